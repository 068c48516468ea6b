"""The outbox relay picks partitions itself (it sends whole record batches): it must pick
the ones aiokafka's default partitioner picks, so that a key keeps its partition."""

import random
import uuid

from aiokafka.partitioner import DefaultPartitioner, murmur2 as aiokafka_murmur2

from services.common.outbox import murmur2, partition_for


def test_murmur2_is_kafkas_hash():
    rng = random.Random(7)
    keys = [b"", b"a", b"ab", b"abc", b"abcd", "Jönköping".encode()]
    keys += [rng.randbytes(rng.randint(0, 64)) for _ in range(3000)]
    for key in keys:
        assert murmur2(key) & 0x7FFFFFFF == aiokafka_murmur2(key) & 0x7FFFFFFF, key


def test_partitions_are_the_default_partitioners():
    partitioner = DefaultPartitioner()
    for count in (1, 3, 6, 7):
        partitions = list(range(count))
        for _ in range(300):
            key = str(uuid.uuid4()).encode()
            assert partition_for(key, partitions) == partitioner(key, partitions, partitions)


def test_a_keyless_row_goes_to_any_partition():
    assert {partition_for(None, [0, 1, 2]) for _ in range(200)} == {0, 1, 2}
