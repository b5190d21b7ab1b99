"""Snapshots' raw JSON, zstd-compressed: a trial's next version is stored as a delta against the
one before (the earlier JSON is the zstd dictionary), because consecutive versions differ in a
few hundred bytes; a first version is compressed with a dictionary trained on real records
(`records-v1.zdict`, see bench/train_dictionary.py). Measured on the 117 real corpus records:
31 KB of JSON become 5.9 KB alone (7.8 KB without the trained dictionary) and 0.2 KB as a delta
(zlib, whose window is 32 KB, manages 4.5 KB as a delta).
"""

from __future__ import annotations

import functools
import importlib.resources
import sqlite3
from dataclasses import dataclass

import zstandard

# zstd level 10: within 3% of level 19's size at 1/18 of its time (0.4 ms for a 31 KB record).
LEVEL = 10
# Reading a snapshot decompresses its whole chain; past this many deltas the next one is
# stored alone. 50 steps of ~0.04 ms each keep the slowest read near 2 ms.
LONGEST_CHAIN = 50
RAW_FUNCTION = "trialwatch_raw"
# Needed for ever to read what it compressed: a retrained dictionary ships beside it, with its
# own name and id, and frames say which one they used.
TRAINED_DICTIONARY = "records-v1.zdict"


@dataclass(frozen=True)
class Packed:
    """A snapshot's stored form: the compressed bytes, the snapshot whose JSON is their
    dictionary (None when they stand alone), and how many deltas lead back to one that does."""

    data: bytes
    base_id: int | None
    chain: int


@dataclass(frozen=True)
class Base:
    """The snapshot a new one may be stored against: its id, JSON bytes and chain length."""

    id: int
    raw: bytes
    chain: int


def pack(raw: bytes, base: Base | None) -> Packed:
    if base is None or base.chain >= LONGEST_CHAIN:
        alone = zstandard.ZstdCompressor(level=LEVEL, dict_data=_trained_dictionary())
        return Packed(alone.compress(raw), None, 0)
    compressor = zstandard.ZstdCompressor(level=LEVEL, dict_data=_dictionary(base.raw))
    return Packed(compressor.compress(raw), base.id, base.chain + 1)


def unpack(data: bytes, base_raw: bytes | None) -> bytes:
    dictionary = _trained_dictionary() if base_raw is None else _dictionary(base_raw)
    return zstandard.ZstdDecompressor(dict_data=dictionary).decompress(data)


def _dictionary(raw: bytes) -> zstandard.ZstdCompressionDict:
    return zstandard.ZstdCompressionDict(raw, dict_type=zstandard.DICT_TYPE_RAWCONTENT)


@functools.cache
def _trained_dictionary() -> zstandard.ZstdCompressionDict:
    trained = importlib.resources.files(__package__).joinpath(TRAINED_DICTIONARY).read_bytes()
    dictionary = zstandard.ZstdCompressionDict(trained, dict_type=zstandard.DICT_TYPE_FULLDICT)
    dictionary.precompute_compress(level=LEVEL)  # once, not for every first snapshot
    return dictionary


CHAIN_SQL = """
with recursive chain(id, base_id, raw_zstd, raw_chain) as (
  select id, raw_base_id, raw_zstd, raw_chain from snapshots where id = ?
  union all
  select s.id, s.raw_base_id, s.raw_zstd, s.raw_chain
  from snapshots s join chain c on s.id = c.base_id
)
select id, raw_zstd from chain order by raw_chain
"""


class RawReader:
    """Reads snapshots' JSON bytes, remembering what it decompressed (a snapshot never
    changes): reading a trial's versions in order decompresses each one once, and a check
    that read the previous version to diff against stores the next as a delta against it
    without decompressing it again. `keep`: how many to remember (None: all)."""

    def __init__(self, conn: sqlite3.Connection, *, keep: int | None = None):
        self.conn = conn
        self.keep = keep
        self.known: dict[int, bytes] = {}

    def raw(self, snapshot_id: int) -> bytes:
        if snapshot_id in self.known:
            return self.known[snapshot_id]
        base_raw: bytes | None = None
        for chain_id, data in self.conn.execute(CHAIN_SQL, [snapshot_id]).fetchall():
            if chain_id not in self.known:
                self.known[chain_id] = unpack(data, base_raw)
            base_raw = self.known[chain_id]
        if base_raw is None:
            raise KeyError(snapshot_id)
        while self.keep is not None and len(self.known) > self.keep:
            del self.known[next(iter(self.known))]  # the longest remembered goes first
        return base_raw


def register_raw_function(conn: sqlite3.Connection) -> None:
    """`trialwatch_raw(snapshot_id)`: a snapshot's JSON as text, for the browsing views and for
    Datasette (through the plugin in `monitor.store.datasette_plugin`)."""

    def trialwatch_raw(snapshot_id: int | None) -> str | None:
        if snapshot_id is None:
            return None
        try:
            return RawReader(conn).raw(snapshot_id).decode()
        except KeyError:
            return None

    conn.create_function(RAW_FUNCTION, 1, trialwatch_raw)
