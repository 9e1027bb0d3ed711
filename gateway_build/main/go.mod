module example.invalid/sgbuild

go 1.26.6

replace github.com/coder/websocket => github.com/couchbasedeps/websocket v1.8.15-0.20260116134543-30951104b23a

require github.com/couchbase/sync_gateway v0.0.0-20260821161435-f39abe11abb4 // main at f39abe11abb4 (2026-08-21), API 4.2
