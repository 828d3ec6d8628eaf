#!/usr/bin/python3
"""liblo's verdict on raw OSC packets, for the differential test (liblo_differential_test.ts).

Reads packets from stdin, each preceded by its size (uint32, big-endian), until EOF; writes one
JSON line per packet: {"ok": true, "tree": ...} or {"ok": false, "why": ...}.

The judge is liblo 0.31's own parser through its C API (ctypes on liblo.so.7, which python3-liblo
installs; pyliblo has no call that parses raw bytes): lo_validate_bundle for a bundle's frame,
lo_message_deserialise for each message, walked the way lo_server_dispatch_data walks them.
Where the OSC specification asks for more than liblo checks, or liblo lacks a type, a named rule
below says so; each verdict names the rule that decided it, so the test can count them.

  address_slash   An address must begin with '/' (OSC 1.0). liblo's deserialiser accepts any
                  path and leaves it to method dispatch.
  r_and_arrays    liblo 0.31 has no 'r' (RGBA, OSC 1.0) and no arrays '[' ']' (OSC 1.0, as
                  "reserved"; 1.1). Before liblo sees a message, 'r' becomes 'i' (4 bytes both)
                  and '[' ']' become 'N' (no payload): liblo then checks everything else.
  array_rules     Arrays balance, and nest at most 32 deep (the router's limit).
  bundle_depth    Bundles nest at most 32 deep (the router's limit; liblo recurses without one).

The tree of an accepted packet: a message is [path_hex, types, [arg, ...]] with values as liblo
decoded them (numbers as hex of their bits); a bundle is ["#bundle", timetag_hex, [element, ...]].
"""
import ctypes
import json
import struct
import sys

MAX_DEPTH = 32
lo = ctypes.CDLL("liblo.so.7")
lo.lo_message_deserialise.restype = ctypes.c_void_p
lo.lo_message_deserialise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_int)]
lo.lo_message_get_types.restype = ctypes.c_char_p
lo.lo_message_get_types.argtypes = [ctypes.c_void_p]
lo.lo_message_get_argc.restype = ctypes.c_int
lo.lo_message_get_argc.argtypes = [ctypes.c_void_p]
lo.lo_message_get_argv.restype = ctypes.POINTER(ctypes.c_void_p)
lo.lo_message_get_argv.argtypes = [ctypes.c_void_p]
lo.lo_message_free.argtypes = [ctypes.c_void_p]
lo.lo_validate_bundle.restype = ctypes.c_ssize_t
lo.lo_validate_bundle.argtypes = [ctypes.c_void_p, ctypes.c_ssize_t]
lo.lo_validate_string.restype = ctypes.c_ssize_t
lo.lo_validate_string.argtypes = [ctypes.c_void_p, ctypes.c_ssize_t]


class Refused(Exception):
    pass


def at(ptr, ctype):
    return ctypes.cast(ptr, ctypes.POINTER(ctype)).contents.value


def arg_value(tag, ptr):
    if tag in "TFNI":
        return None
    if tag == "i":
        return "%08x" % (at(ptr, ctypes.c_int32) & 0xFFFFFFFF)
    if tag == "f":
        return "%08x" % at(ptr, ctypes.c_uint32)
    if tag in "hd":
        return "%016x" % at(ptr, ctypes.c_uint64)
    if tag == "t":
        sec, frac = at(ptr, ctypes.c_uint32), at(ctypes.c_void_p(ptr + 4), ctypes.c_uint32)
        return "%08x%08x" % (sec, frac)
    if tag == "c":
        return "%02x" % at(ptr, ctypes.c_uint8)
    if tag == "m":
        return ctypes.string_at(ptr, 4).hex()
    if tag in "sS":
        return ctypes.string_at(ptr).hex()
    if tag == "b":
        size = at(ptr, ctypes.c_int32)
        return ctypes.string_at(ptr + 4, size).hex()
    raise AssertionError("liblo returned type " + tag)


def message(data):
    """liblo's reading of one message, after the named rules."""
    buf = ctypes.create_string_buffer(data, len(data))
    path_len = lo.lo_validate_string(buf, len(data)) if data else -1
    if path_len > 0 and data[0:1] != b"/":
        raise Refused("address_slash")
    if 0 < path_len < len(data) and data[path_len:path_len + 1] == b",":
        end = data.find(b"\0", path_len)
        tags = data[path_len:end] if end != -1 else b""
        depth = 0
        for t in tags:
            depth += (t == 0x5B) - (t == 0x5D)
            if depth < 0 or depth > MAX_DEPTH:
                raise Refused("array_rules")
        if depth != 0:
            raise Refused("array_rules")
        if any(t in b"r[]" for t in tags):
            translated = tags.replace(b"r", b"i").replace(b"[", b"N").replace(b"]", b"N")
            data = data[:path_len] + translated + data[end:]
            buf = ctypes.create_string_buffer(data, len(data))
    result = ctypes.c_int(0)
    msg = lo.lo_message_deserialise(buf, len(data), ctypes.byref(result))
    if not msg:
        raise Refused("liblo: lo_message_deserialise error %d" % result.value)
    try:
        types = lo.lo_message_get_types(msg).decode("ascii")
        argv = lo.lo_message_get_argv(msg)
        args = [arg_value(t, argv[i]) for i, t in enumerate(types)]
    finally:
        lo.lo_message_free(msg)
    return [data[:data.index(b"\0")].hex(), types, args]


def element(data, depth):
    if data[:8] == b"#bundle\0":
        if depth > MAX_DEPTH:
            raise Refused("bundle_depth")
        buf = ctypes.create_string_buffer(data, len(data))
        if lo.lo_validate_bundle(buf, len(data)) < 0:
            raise Refused("liblo: lo_validate_bundle")
        elements, pos = [], 16
        while len(data) - pos >= 4:
            (size,) = struct.unpack(">I", data[pos:pos + 4])
            elements.append(element(data[pos + 4:pos + 4 + size], depth + 1))
            pos += 4 + size
        return ["#bundle", data[8:16].hex(), elements]
    return message(data)


def main():
    read, out = sys.stdin.buffer.read, sys.stdout
    while True:
        head = read(4)
        if len(head) < 4:
            break
        (size,) = struct.unpack(">I", head)
        data = read(size)
        try:
            verdict = {"ok": True, "tree": element(data, 1)}
        except Refused as e:
            verdict = {"ok": False, "why": str(e)}
        out.write(json.dumps(verdict) + "\n")
    out.flush()


main()
