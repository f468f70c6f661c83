"""The content-addressed store: keys, round trips without pickle, hits and misses."""

from pathlib import Path

import numpy as np
import pytest

from nnvis.workspace.store import ArtifactKey, Store, pack, unpack


def test_key_depends_on_every_field_and_not_on_param_order():
    key = ArtifactKey("projection", "digits-abc", "test-300", "w1", "hidden1", 2, "tsne")
    assert key.with_params(a=1, b=2).digest() == key.with_params(b=2, a=1).digest()
    variants = [key, key.with_params(a=1),
                ArtifactKey("projection", "digits-abc", "test-300", "w2", "hidden1", 2, "tsne"),
                ArtifactKey("projection", "digits-abc", "test-300", "w1", "hidden2", 2, "tsne"),
                ArtifactKey("projection", "digits-abc", "test-300", "w1", "hidden1", 2, "umap")]
    assert len({v.digest() for v in variants}) == len(variants)


def test_round_trip_and_get_or_compute(tmp_path):
    store = Store(tmp_path / "s")
    key = ArtifactKey("activations", "d", weights="w")
    calls = []

    def compute():
        calls.append(1)
        return {"x": np.arange(6, dtype=np.float16).reshape(2, 3), "nh": np.float64(0.5)}

    first = store.get_or_compute(key, compute)
    again = Store(tmp_path / "s").get_or_compute(key, compute)  # a second process sees it
    assert len(calls) == 1
    np.testing.assert_array_equal(first["x"], again["x"])
    assert again["x"].dtype == np.float16 and float(again["nh"]) == 0.5


def test_object_arrays_are_refused():
    with pytest.raises(ValueError):
        unpack(pack({"o": np.array([{"a": 1}], dtype=object)}))


def test_two_askers_compute_an_artifact_once(tmp_path):
    """Two threads (each with its own store handle, as two web workers) ask for the same missing
    artifact: one computes, the other waits for it and reads it."""
    import threading
    import time

    key = ArtifactKey("projection", "digits", layer="hidden1")
    calls = []

    def compute():
        calls.append(threading.get_ident())
        time.sleep(0.5)
        return {"points": np.arange(6.0).reshape(3, 2)}

    results = []
    askers = [threading.Thread(target=lambda: results.append(Store(tmp_path).get_or_compute(key, compute)))
              for _ in range(2)]
    for asker in askers:
        asker.start()
    for asker in askers:
        asker.join()
    assert len(calls) == 1
    assert len(results) == 2
    np.testing.assert_array_equal(results[0]["points"], results[1]["points"])


def test_a_killed_computation_leaves_no_artifact_and_no_lock(tmp_path):
    """SIGKILL a process in the middle of computing: nothing partial is stored, and the next
    asker computes at once (the kernel released the dead holder's lock)."""
    import signal
    import subprocess
    import sys
    import threading

    script = (f"import time, numpy as np\nfrom nnvis.workspace.store import Store, ArtifactKey\n"
              f"store = Store({str(tmp_path)!r})\n"
              f"def compute():\n    print('computing', flush=True)\n    time.sleep(60)\n"
              f"    return {{'x': np.ones(3)}}\n"
              f"store.get_or_compute(ArtifactKey('projection', 'digits'), compute)\n")
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "computing"
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    store = Store(tmp_path)
    key = ArtifactKey("projection", "digits")
    assert key not in store
    found = {}
    reader = threading.Thread(target=lambda: found.update(store.get_or_compute(key, lambda: {"x": np.zeros(3)})))
    reader.start()
    reader.join(timeout=120)  # a lock left by the dead holder would block for ever
    assert not reader.is_alive() and found["x"].tolist() == [0, 0, 0]


def test_mapped_array_is_computed_once_and_read_through_a_memory_map(tmp_path):
    store = Store(tmp_path / "store")
    key = ArtifactKey("activations-by-unit", "d", "s", "w", "hidden", 1, "")
    calls = []
    array = np.arange(12, dtype=np.float16).reshape(3, 4)

    def compute():
        calls.append(1)
        return array
    first = store.mapped_array(key, compute)
    again = Store(tmp_path / "store").mapped_array(key, compute)  # another process's view of the store
    assert calls == [1] and isinstance(again, np.memmap) and not again.flags.writeable
    np.testing.assert_array_equal(first, array)
    np.testing.assert_array_equal(again[2], [8, 9, 10, 11])
    assert not list((tmp_path / "store" / "arrays").glob("*.partial"))


class RowsRead(np.ndarray):
    """A source array that records which rows each read asked for."""

    def __getitem__(self, item):
        self.reads.append(item)
        return np.asarray(self).__getitem__(item)


def test_mapped_transpose_writes_the_transpose_a_few_rows_at_a_time(tmp_path):
    """The units x observations copy of a layer is written from slices of the (memory-mapped)
    layer: never the whole layer at once, and exactly its transpose."""
    store = Store(tmp_path / "store")
    key = ArtifactKey("activations-by-unit", "d", "s", "w", "hidden", 1, "")
    source = (np.arange(70 * 3, dtype=np.float16).reshape(70, 3) / 7).view(RowsRead)
    source.reads = []
    by_unit = store.mapped_transpose(key, lambda: source, rows_at_once=16)
    assert isinstance(by_unit, np.memmap) and by_unit.shape == (3, 70) and by_unit.dtype == np.float16
    np.testing.assert_array_equal(by_unit, np.asarray(source).T)
    assert source.reads == [slice(start, min(start + 16, 70)) for start in range(0, 70, 16)]
    assert not list((tmp_path / "store" / "arrays").glob("*.partial"))
    again = Store(tmp_path / "store").mapped_transpose(key, lambda: 1 / 0)  # stored: the source is not read
    np.testing.assert_array_equal(again[1], np.asarray(source)[:, 1])


def test_mapped_transpose_of_a_memory_mapped_layer_reads_its_file(tmp_path):
    layer = np.lib.format.open_memmap(tmp_path / "layer.npy", mode="w+", dtype=np.float16, shape=(50, 4))
    layer[:] = np.arange(200).reshape(50, 4) / 3
    layer.flush()
    mapped = np.load(tmp_path / "layer.npy", mmap_mode="r")
    by_unit = Store(tmp_path / "store").mapped_transpose(
        ArtifactKey("activations-by-unit", "d", "s", "w", "hidden", 2, ""), lambda: mapped, rows_at_once=7)
    np.testing.assert_array_equal(by_unit, np.asarray(mapped).T)


def test_the_scratch_folder_of_a_killed_process_is_removed_by_the_next_one_and_a_live_one_kept(tmp_path):
    """A capture killed inside its scratch folder leaves its spilled files; the next scratch
    folder made in the store removes them, and never a folder another live process is using."""
    import signal
    import subprocess
    import sys

    def holder() -> tuple[subprocess.Popen, str]:
        script = (f"import time\nfrom nnvis.workspace.store import Store\n"
                  f"with Store({str(tmp_path)!r}).scratch() as folder:\n"
                  f"    (folder / 'layer.npy').write_bytes(b'0' * 4096)\n"
                  f"    print(folder, flush=True)\n    time.sleep(120)\n")
        process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        return process, process.stdout.readline().strip()

    killed, killed_folder = holder()
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert (Path(killed_folder) / "layer.npy").stat().st_size == 4096  # left behind by the kill
    alive, alive_folder = holder()
    try:
        assert not Path(killed_folder).exists()  # removed when the next folder was made
        with Store(tmp_path).scratch() as mine:
            left = {p.name for p in (tmp_path / "scratch").iterdir()}
            assert left == {mine.name, Path(alive_folder).name}  # the live one is kept, whole
            assert (Path(alive_folder) / "layer.npy").stat().st_size == 4096
        assert not mine.exists()
    finally:
        alive.kill()
        alive.wait()
