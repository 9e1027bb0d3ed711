"""Record the frames a real Sync Gateway sends during a small one-shot pull and push.

Run by hand (`python tests/data/frames/record_frames.py`) against the locally
built gateway; it rewrites `sg_session.json`, which `tests/unit/blip/test_golden_frames.py`
replays through a fresh codec. Frames are kept in arrival order from the start
of the connection, because the inflater and the running CRC span them all.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from rig.device import Credentials, VirtualDevice
from rig.gateway import AdminClient, DatabaseSpec, LocalGateway
from rig.gateway.build import DEFAULT_VERSION, binary_version, find_binary
from rig.replicator import Attachment
from rig.transport import WebSocketTransport
from tests.unit.blip.test_golden_frames import event_as_json, replay_codec

OUT = Path(__file__).with_name("sg_session.json")


def main() -> None:
    binary = find_binary(DEFAULT_VERSION)
    assert binary is not None, "build Sync Gateway first: rig gateway build"
    received: list[bytes] = []
    original_recv = WebSocketTransport.recv

    def recording_recv(self: WebSocketTransport, timeout: float | None = None) -> bytes | None:
        frame = original_recv(self, timeout)
        if frame:
            received.append(frame)
        return frame

    with tempfile.TemporaryDirectory() as tmp, \
            LocalGateway(binary, Path(tmp), databases=[DatabaseSpec("golden")]) as gateway:
        admin = AdminClient(gateway.admin_url)
        admin.put_user("golden", "ann", password="ann-pw", admin_channels=["ann"])
        for i in range(3):
            admin.put_document("golden", f"doc-{i}", {"channels": ["ann"], "n": i, "text": "golden " * 40})
        admin.wait_for_changes_feed("golden")
        device = VirtualDevice(f"{gateway.public_url}/golden", Credentials("ann", "ann-pw"))
        device.store.put("pushed", {"owner": "ann", "channels": ["ann"]},
                         {"photo": Attachment(b"\x89PNG" + bytes(range(256)) * 4, "image/png")})
        WebSocketTransport.recv = recording_recv  # type: ignore[method-assign]
        try:
            device.sync(timeout=30)
        finally:
            WebSocketTransport.recv = original_recv  # type: ignore[method-assign]
        version = binary_version(binary)

    codec = replay_codec(received)
    events = [event_as_json(event) for frame in received for event in codec.receive_frame(frame)]
    OUT.write_text(json.dumps({"gateway": version, "frames": [f.hex() for f in received], "events": events},
                              indent=1))
    print(f"{len(received)} frames, {len(events)} events -> {OUT}")


if __name__ == "__main__":
    main()
