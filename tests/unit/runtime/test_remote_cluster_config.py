"""Reading a kubeConfig ConfigMap (spec.kubeConfig.configMapRef): Flux's keys, defaults and
the errors that name the key to fix (pure: `_kubeconfig.remote_cluster_config`)."""

from __future__ import annotations

from typing import Any

import pytest

from afflux.api._servingcert import new_authority
from afflux.controllers.runtime._kubeconfig import (
    RemoteClusterConfig,
    RemoteConfigError,
    cluster_address,
    remote_cluster_config,
)

CA = new_authority(common_name="remote").cert
WHERE = "kubeConfig ConfigMap 'apps/remote'"


def read(data: dict[str, Any], **kwargs: Any) -> RemoteClusterConfig:
    return remote_cluster_config(data, WHERE, **kwargs)


@pytest.mark.parametrize(("data", "kwargs", "expected"), [
    pytest.param({"provider": "generic", "address": "https://api.example.com:6443"}, {},
                 RemoteClusterConfig("generic", "https://api.example.com:6443",
                                     ("https://api.example.com:6443",)),
                 id="controller-level-audience-defaults-to-the-address"),
    pytest.param({"provider": "generic", "address": "API.Example.com"}, {},
                 RemoteClusterConfig("generic", "https://api.example.com:443",
                                     ("API.Example.com",)),
                 id="scheme-and-port-assumed-audience-as-written"),
    pytest.param({"provider": "generic", "address": "https://10.0.0.1:6443",
                  "audiences": "  aud-one\n\naud-two \n", "ca.crt": CA,
                  "serviceAccountName": "deployer"}, {"object_level_enabled": True},
                 RemoteClusterConfig("generic", "https://10.0.0.1:6443",
                                     ("aud-one", "aud-two"), CA, "deployer", True),
                 id="object-level-with-ca-and-audiences"),
    pytest.param({"provider": "generic", "address": "https://h:1/"},
                 {"default_service_account": "flux-remote", "object_level_enabled": True},
                 RemoteClusterConfig("generic", "https://h:1", ("https://h:1/",), None,
                                     "flux-remote", True),
                 id="default-kubeconfig-service-account"),
    pytest.param({"provider": "generic", "address": "https://h:1", "cluster": "ignored",
                  "ca.crt": "  "}, {},
                 RemoteClusterConfig("generic", "https://h:1", ("https://h:1",)),
                 id="cluster-unused-by-generic-empty-ca-is-none"),
])
def test_reads_fluxs_keys(data: dict[str, Any], kwargs: dict[str, Any],
                          expected: RemoteClusterConfig) -> None:
    assert read(data, **kwargs) == expected


@pytest.mark.parametrize(("data", "kwargs", "message", "gate"), [
    pytest.param({}, {}, "has no key 'provider': set it to one of aws, azure, gcp, generic",
                 False, id="no-provider"),
    pytest.param({"provider": "vault"}, {}, "provider 'vault' is not one of aws, azure, gcp, "
                 "generic", False, id="unknown-provider"),
    pytest.param({"provider": "generic"}, {}, "has no key 'address'", False, id="no-address"),
    pytest.param({"provider": "generic", "address": "http://h:80"}, {},
                 "'address' 'http://h:80' is not usable: it must use https", False,
                 id="plain-http"),
    pytest.param({"provider": "generic", "address": "https://h/k8s/clusters/c1"}, {},
                 "without a path or query", False, id="address-with-path"),
    pytest.param({"provider": "generic", "address": "https://u:p@h"}, {},
                 "it must be https://host[:port]", False, id="address-with-credentials"),
    pytest.param({"provider": "generic", "address": "https://h", "ca.crt": "not a cert"}, {},
                 "['ca.crt'] is not a PEM certificate", False, id="ca-not-pem"),
    pytest.param({"provider": "generic", "address": "https://h",
                  "ca.crt": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"},
                 {}, "['ca.crt'] holds no valid PEM certificate", False, id="ca-garbled"),
    pytest.param({"provider": "generic", "address": "https://h",
                  "serviceAccountName": "deployer"}, {},
                 "ServiceAccount 'deployer' (serviceAccountName) is object-level workload "
                 "identity: start the controller with "
                 "--feature-gates=ObjectLevelWorkloadIdentity=true", True, id="gate-off"),
    pytest.param({"provider": "generic", "address": "https://h"},
                 {"default_service_account": "flux-remote"},
                 "(--default-kubeconfig-service-account) is object-level", True,
                 id="gate-off-default-account"),
    pytest.param({"provider": "generic", "address": "https://h",
                  "serviceAccountName": "Not_Valid"}, {"object_level_enabled": True},
                 "serviceAccountName 'Not_Valid' is not a valid ServiceAccount name", False,
                 id="bad-account-name"),
    pytest.param({"provider": "aws", "cluster": "arn:aws:eks:eu-west-1:1:cluster/c"}, {},
                 "provider 'aws' needs the aws cloud's credentials and token exchange, which "
                 "afflux does not implement", False, id="aws"),
    pytest.param({"provider": "gcp", "serviceAccountName": "sa"}, {},
                 "--feature-gates=ObjectLevelWorkloadIdentity=true", True,
                 id="gcp-object-level-names-the-gate-first"),
    pytest.param({"provider": "azure", "serviceAccountName": "sa"},
                 {"object_level_enabled": True}, "provider 'azure' needs", False,
                 id="azure-with-gate"),
])
def test_errors_name_the_key_to_fix(data: dict[str, Any], kwargs: dict[str, Any],
                                    message: str, gate: bool) -> None:
    with pytest.raises(RemoteConfigError) as err:
        read(data, **kwargs)
    assert str(err.value).startswith(WHERE)
    assert message in str(err.value)
    assert err.value.gate is gate


def test_ca_content_is_never_echoed() -> None:
    bad = "-----BEGIN CERTIFICATE-----\nc2VjcmV0LWlzaA==\n-----END CERTIFICATE-----\n"
    with pytest.raises(RemoteConfigError) as err:
        read({"provider": "generic", "address": "https://h", "ca.crt": bad})
    assert "c2VjcmV0" not in str(err.value)


def test_long_values_are_cut_in_messages() -> None:
    with pytest.raises(RemoteConfigError) as err:
        read({"provider": "x" * 500})
    assert len(str(err.value)) < 200


@pytest.mark.parametrize(("address", "expected"), [
    pytest.param("https://Host:6443", "https://host:6443", id="lower-case"),
    pytest.param("host", "https://host:443", id="bare-host"),
    pytest.param("https://[::1]:6443", "https://[::1]:6443", id="ipv6"),
    pytest.param("https://h:6443/", "https://h:6443", id="root-path"),
])
def test_cluster_address(address: str, expected: str) -> None:
    assert cluster_address(address) == expected
