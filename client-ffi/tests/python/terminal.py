"""A terminal app in Python against the fieldlink C ABI through ctypes,
driven by tests/python_ctypes.rs:
    python3 terminal.py LIBRARY CONFIG_JSON_FILE RECORD_BIN PHOTO_JPG
Prints "key=value" lines; exits non-zero at the first unexpected step."""

import ctypes
import json
import sys

OK, INVALID_ARGUMENT, AUTHENTICATION, TIMEOUT = 0, 1, 4, 7
INSPECTION = 1


class Receipt(ctypes.Structure):
    _fields_ = [
        ("item_id", ctypes.c_uint8 * 40),
        ("server_seq", ctypes.c_uint64),
        ("received_at_ms", ctypes.c_int64),
        ("replayed", ctypes.c_uint8),
        ("sha256", ctypes.c_uint8 * 32),
        ("sm3", ctypes.c_uint8 * 32),
        ("leaf_index", ctypes.c_uint64),
    ]

    def id(self):
        return bytes(self.item_id).split(b"\0")[0].decode()


class Bytes(ctypes.Structure):
    _fields_ = [("data", ctypes.POINTER(ctypes.c_uint8)), ("len", ctypes.c_size_t)]


PROGRESS = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint32)

lib = ctypes.CDLL(sys.argv[1])
lib.fl_client_connect.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
lib.fl_client_connect.restype = ctypes.c_int
lib.fl_client_close.argtypes = [ctypes.c_void_p]
lib.fl_client_submit.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_char_p, ctypes.c_size_t,
                                 ctypes.POINTER(Receipt)]
lib.fl_client_submit.restype = ctypes.c_int
lib.fl_client_upload_file.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, PROGRESS,
                                      ctypes.c_void_p, ctypes.POINTER(Receipt)]
lib.fl_client_upload_file.restype = ctypes.c_int
lib.fl_feed_open.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]
lib.fl_feed_open.restype = ctypes.c_int
lib.fl_feed_next.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.POINTER(Bytes)]
lib.fl_feed_next.restype = ctypes.c_int
lib.fl_feed_close.argtypes = [ctypes.c_void_p]
lib.fl_bytes_free.argtypes = [ctypes.POINTER(Bytes)]
lib.fl_last_error_message.restype = ctypes.c_char_p


def check(status, want, step):
    if status != want:
        message = lib.fl_last_error_message()
        sys.exit(f"{step}: status {status}, wanted {want}: {message.decode() if message else '(none)'}")


config_text = open(sys.argv[2]).read()

# A wrong password: a typed refusal, no handle.
wrong = json.loads(config_text)
wrong["password"] = "not the password"
client = ctypes.c_void_p()
status = lib.fl_client_connect(json.dumps(wrong).encode(), ctypes.byref(client))
print(f"auth_status={status}")
if client.value is not None:
    sys.exit("a refused sign-in returned a handle")

check(lib.fl_client_connect(config_text.encode(), ctypes.byref(client)), OK, "connect")
record = open(sys.argv[3], "rb").read()
receipt = Receipt()
check(lib.fl_client_submit(client, INSPECTION, record, len(record), ctypes.byref(receipt)), OK, "submit")
print(f"record_id={receipt.id()}")
print(f"record_seq={receipt.server_seq}")
garbage = b"\xff\xff"
print(f"garbage_status={lib.fl_client_submit(client, INSPECTION, garbage, len(garbage), ctypes.byref(Receipt()))}")

seen = []
progress = PROGRESS(lambda _user, sent, total, _attempt: seen.append((sent, total)))
photo = Receipt()
check(lib.fl_client_upload_file(client, receipt.id().encode(), b"image/jpeg", sys.argv[4].encode(), progress, None,
                                ctypes.byref(photo)), OK, "upload")
print(f"photo_seq={photo.server_seq}")
print(f"progress_last={seen[-1][0]}/{seen[-1][1]}")

feed = ctypes.c_void_p()
check(lib.fl_feed_open(client, ctypes.byref(feed)), OK, "feed open")
event = Bytes()
check(lib.fl_feed_next(feed, 60000, ctypes.byref(event)), OK, "feed next")
print(f"event_hex={bytes(event.data[:event.len]).hex()}")
lib.fl_bytes_free(ctypes.byref(event))
lib.fl_feed_close(feed)
lib.fl_client_close(client)

# The same record again over TCP (as where UDP is blocked): the same receipt.
over_tcp = json.loads(config_text)
over_tcp["transport"] = "tcp"
check(lib.fl_client_connect(json.dumps(over_tcp).encode(), ctypes.byref(client)), OK, "connect over TCP")
again = Receipt()
check(lib.fl_client_submit(client, INSPECTION, record, len(record), ctypes.byref(again)), OK, "submit over TCP")
print(f"tcp_record_seq={again.server_seq}")
lib.fl_client_close(client)
wrong_transport = json.loads(config_text)
wrong_transport["transport"] = "carrier-pigeon"
print(f"bad_transport_status={lib.fl_client_connect(json.dumps(wrong_transport).encode(), ctypes.byref(client))}")
print("done=1")
