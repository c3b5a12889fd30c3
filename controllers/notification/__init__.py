"""notification-controller: Providers and Alerts (events out), Receivers (webhooks in).

It learns what happened from the core/v1 Events the other operators record (and from
Flux's event API, for real Flux controllers pointed at it), sends each event to the
Providers of the Alerts that select it, and turns authentic Receiver webhook calls into
`reconcile.fluxcd.io/requestedAt` on the objects they list. See `handlers` for the
wiring, `_dispatch` for delivery (and how no event is lost or sent twice across
restarts), `_providers`/`_commitstatus` for what each Provider type sends, and
`_receivers` for how each Receiver type authenticates a call.
"""
