module example.invalid/sgbuild

go 1.26.6

replace github.com/coder/websocket => github.com/couchbasedeps/websocket v1.8.15-0.20260116134543-30951104b23a

require github.com/couchbase/sync_gateway v0.0.0-20260708185412-6bdbe7dde8b9 // tag 4.1.1
