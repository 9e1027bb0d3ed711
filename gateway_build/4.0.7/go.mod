module example.invalid/sgbuild

go 1.26.6

replace github.com/coder/websocket => github.com/couchbasedeps/websocket v1.8.13-0.20260116135942-21bb2da15e3d

require github.com/couchbase/sync_gateway v0.0.0-20260708190811-57e671010afb // tag 4.0.7
