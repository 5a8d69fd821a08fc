"""StorageManager: ClearML's class methods on deltaset's storage backends and file cache."""

from __future__ import annotations

import inspect
import io
import os
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

from deltaset import StorageManager
from deltaset.errors import InvalidInputError, NotFoundError, StorageError
from deltaset.storage import registry
from tests.api import web
from tests.backends import EMBEDDED_ONLY
from tests.servers import azure_connection_string

pytestmark = EMBEDDED_ONLY  # no catalog is involved: one backend is enough

TREE = {"d/x.csv": b"a,b\n1,2\n", "d/sub/y.txt": b"hello\n"}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[web.WebFolder]:
    with web.served(tmp_path / "www") as served:
        yield served


@pytest.fixture(autouse=True)
def fresh_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(StorageManager, "_file_limits", {})


def cache_files(home: Path) -> list[Path]:
    found = (home / "cache" / "files").rglob("*")
    return [p for p in found if p.is_file() and "locks" not in p.parts]


def one_sentence(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text
    assert text.endswith(".")
    return text


# -- the surface ----------------------------------------------------------------------------------


def test_every_class_method_has_clearmls_parameters_and_defaults() -> None:
    from clearml.storage.manager import StorageManager as ClearML

    public = [
        name
        for name, value in vars(ClearML).items()
        if not name.startswith("_") and isinstance(value, classmethod)
    ]
    assert {"get_local_copy", "download_folder", "list", "set_cache_file_limit"} <= set(public)
    for name in public:
        theirs = inspect.signature(getattr(ClearML, name)).parameters.values()
        ours = inspect.signature(getattr(StorageManager, name)).parameters.values()
        assert [(p.name, p.kind, p.default) for p in ours] == [
            (p.name, p.kind, p.default) for p in theirs
        ], name
        assert isinstance(vars(StorageManager)[name], classmethod), name


# -- get_local_copy over HTTP ---------------------------------------------------------------------


def test_a_download_is_made_once_then_served_from_the_cache(site: web.WebFolder) -> None:
    (site.folder / "data.csv").write_bytes(b"x,y\n" * 100)
    url = f"{site.url}/data.csv"
    first = StorageManager.get_local_copy(url)
    assert first is not None
    assert Path(first).read_bytes() == b"x,y\n" * 100
    assert StorageManager().get_local_copy(remote_url=url) == first
    assert site.gets == ["/data.csv"]
    assert StorageManager.get_local_copy(url, force_download=True) == first
    other = StorageManager.get_local_copy(url, cache_context="other")
    assert other != first
    assert site.gets == ["/data.csv"] * 3


def write_archive(path: Path, files: dict[str, bytes]) -> None:
    name = path.name.lower()
    if name.endswith(".zip"):
        with zipfile.ZipFile(path, "w") as archive:
            for member, data in files.items():
                archive.writestr(member, data)
        return
    buffer = io.BytesIO()
    mode = "w:gz" if name.endswith((".tgz", ".tar.gz")) else "w"
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for member, data in files.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue()
    path.write_bytes(zstandard.compress(raw) if name.endswith(".zst") else raw)


def read_tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


@pytest.mark.parametrize("name", ["d.zip", "d.tar", "d.tar.gz", "d.tgz", "d.TAR.ZST"])
def test_archives_are_extracted_into_a_cached_folder(site: web.WebFolder, name: str) -> None:
    write_archive(site.folder / name, TREE)
    url = f"{site.url}/{name}"
    folder = StorageManager.get_local_copy(url)
    assert folder is not None
    assert read_tree(Path(folder)) == TREE
    assert StorageManager.get_local_copy(url) == folder
    named = StorageManager.get_local_copy(url, name="MNIST")
    assert named is not None
    assert named != folder
    assert read_tree(Path(named)) == TREE
    archive = StorageManager.get_local_copy(url, extract_archive=False)
    assert archive is not None
    assert Path(archive).is_file()
    assert site.gets == [f"/{name}"]


def tar_with(member: tarfile.TarInfo) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.addfile(member, io.BytesIO(b"evil" if member.isfile() else b""))
    return buffer.getvalue()


def tar_member(name: str, link_to: str | None = None) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    if link_to is None:
        info.size = 4
    else:
        info.type, info.linkname = tarfile.SYMTYPE, link_to
    return info


def zip_with(name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("fine.txt", b"ok")
        archive.writestr(name, b"evil")
    return buffer.getvalue()


UNSAFE = {
    "climbs.tar": lambda: tar_with(tar_member("../../evil.txt")),
    "absolute.tar": lambda: tar_with(tar_member("/tmp/evil.txt")),
    "link-out.tar": lambda: tar_with(tar_member("link", "../../../evil.txt")),
    "absolute-link.tar": lambda: tar_with(tar_member("link", "/etc/passwd")),
    "climbs.zip": lambda: zip_with("../../evil.txt"),
    "absolute.zip": lambda: zip_with("/tmp/evil.txt"),
}


@pytest.mark.parametrize("name", sorted(UNSAFE))
def test_members_landing_outside_are_refused_and_nothing_is_extracted(
    site: web.WebFolder, name: str, isolation: Path
) -> None:
    (site.folder / name).write_bytes(UNSAFE[name]())
    with pytest.raises(InvalidInputError, match="outside the folder") as caught:
        StorageManager.get_local_copy(f"{site.url}/{name}")
    assert "nothing was extracted" in one_sentence(caught.value)
    assert not [p for p in (isolation / "cache").rglob("*") if "extracted" in p.name]
    assert not [p for p in isolation.parent.rglob("evil.txt")]


def test_a_damaged_archive_is_one_sentence(site: web.WebFolder) -> None:
    (site.folder / "broken.zip").write_bytes(b"not a zip at all")
    with pytest.raises(InvalidInputError, match="cannot be read") as caught:
        StorageManager.get_local_copy(f"{site.url}/broken.zip")
    one_sentence(caught.value)


def test_a_cut_off_download_leaves_no_file_where_a_whole_one_is_expected(
    site: web.WebFolder, isolation: Path, tmp_path: Path
) -> None:
    data = os.urandom(300_000)
    (site.folder / "big.bin").write_bytes(data)
    site.cut.add("/big.bin")
    url = f"{site.url}/big.bin"
    with pytest.raises(StorageError) as caught:
        StorageManager.get_local_copy(url)
    one_sentence(caught.value)
    assert cache_files(isolation) == [isolation / "cache" / "files" / "index.db"]
    with pytest.raises(StorageError):
        StorageManager.download_file(url, str(tmp_path / "out"))
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    site.cut.clear()
    copy = StorageManager.get_local_copy(url)
    assert copy is not None
    assert Path(copy).read_bytes() == data
    assert StorageManager.download_file(url, str(tmp_path / "out")) == str(
        tmp_path / "out" / "big.bin"
    )


def test_a_partial_file_a_killed_download_left_goes_with_the_next_download(
    site: web.WebFolder, isolation: Path
) -> None:
    from deltaset.api.storage_manager import download_cache

    (site.folder / "big.bin").write_bytes(b"z" * 5000)
    url = f"{site.url}/big.bin"
    entry = download_cache().entry("global", url)
    entry.mkdir(parents=True)
    left = entry / ".big.bin.0123456789ab.partial"  # what a kill -9 mid-download leaves
    left.write_bytes(b"z" * 100)
    copy = StorageManager.get_local_copy(url)
    assert copy is not None
    assert Path(copy).read_bytes() == b"z" * 5000
    assert Path(copy).parent == entry
    assert not left.exists()


def test_http_files_are_read_looked_up_and_never_listed_or_written(
    site: web.WebFolder, tmp_path: Path
) -> None:
    (site.folder / "a.csv").write_bytes(b"0123456789")
    url = f"{site.url}/a.csv"
    assert StorageManager.exists_file(url)
    assert not StorageManager.exists_file(f"{site.url}/missing.csv")
    assert StorageManager.get_file_size_bytes(url) == 10
    assert StorageManager.get_metadata(url) == {"name": "a.csv", "size": 10}
    assert StorageManager.get_metadata(url, return_full_path=True) == {"name": url, "size": 10}
    assert StorageManager.get_metadata(f"{site.url}/missing.csv") is None
    stream = StorageManager.get_stream(url, chunk_size=4)
    assert stream is not None
    assert b"".join(stream) == b"0123456789"
    assert StorageManager.list(site.url) is None
    (tmp_path / "up.txt").write_bytes(b"up")
    with pytest.raises(InvalidInputError, match="not to web servers") as caught:
        StorageManager.upload_file(str(tmp_path / "up.txt"), f"{site.url}/up.txt")
    one_sentence(caught.value)


def test_failures_are_one_sentence(site: web.WebFolder, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="HTTP 404") as missing:
        StorageManager.get_local_copy(f"{site.url}/missing.csv")
    with pytest.raises(StorageError, match=r"Cannot read http://127\.0\.0\.1:1/") as unreachable:
        StorageManager.get_local_copy("http://127.0.0.1:1/a.csv")
    with pytest.raises(InvalidInputError, match="unknown scheme") as scheme:
        StorageManager.get_local_copy("ftp://host/a.csv")
    with pytest.raises(NotFoundError) as local:
        StorageManager.get_local_copy(str(tmp_path / "nothing.csv"))
    for caught in (missing, unreachable, scheme, local):
        one_sentence(caught.value)
    assert StorageManager.get_file_size_bytes(f"{site.url}/gone", silence_errors=True) is None
    assert StorageManager.download_file(f"{site.url}/gone", silence_errors=True) is None


def test_refused_credentials_are_one_sentence(
    azure_url: str, monkeypatch: pytest.MonkeyPatch, azurite_server: object
) -> None:
    endpoint = os.environ["AZURE_STORAGE_CONNECTION_STRING"].split("BlobEndpoint=")[1]
    right = azure_connection_string(endpoint.split("/devstoreaccount1")[0].rstrip(";"))
    wrong_key = "A" * 86 + "=="
    right_key = right.split("AccountKey=")[1].split(";")[0]
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", right.replace(right_key, wrong_key))
    registry.close_all()
    with pytest.raises(StorageError, match="access denied; check the credentials") as caught:
        StorageManager.get_file_size_bytes(f"{azure_url}/a.csv")
    one_sentence(caught.value)


# -- local files ----------------------------------------------------------------------------------


def test_a_local_file_is_its_own_copy_and_a_local_archive_is_extracted_in_the_cache(
    tmp_path: Path, isolation: Path
) -> None:
    (tmp_path / "a.csv").write_bytes(b"a")
    assert StorageManager.get_local_copy(str(tmp_path / "a.csv")) == str(tmp_path / "a.csv")
    uri = (tmp_path / "a.csv").as_uri()
    assert StorageManager.get_local_copy(uri) == str(tmp_path / "a.csv")
    write_archive(tmp_path / "d.zip", TREE)
    folder = StorageManager.get_local_copy(str(tmp_path / "d.zip"))
    assert folder is not None
    assert Path(folder).is_relative_to(isolation / "cache")
    assert read_tree(Path(folder)) == TREE


# -- every kind of storage ------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["s3_url", "gcs_url", "azure_url", "folder"])
def test_files_go_up_and_come_down_again(
    where: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    base = str(tmp_path / "share") if where == "folder" else request.getfixturevalue(where)
    local = tmp_path / "local"
    for path, data in {"a.csv": b"a,b\n", "tree/one.txt": b"1", "tree/sub/two.txt": b"22"}.items():
        (local / path).parent.mkdir(parents=True, exist_ok=True)
        (local / path).write_bytes(data)
    (local / "tree" / "skipped.bin").write_bytes(b"no")

    assert StorageManager.upload_file(str(local / "a.csv"), f"{base}/a.csv") == f"{base}/a.csv"
    with pytest.raises(InvalidInputError) as no_name:
        StorageManager.upload_file(str(local / "a.csv"), f"{base}/")
    one_sentence(no_name.value)
    tree = f"{base}/tree"
    assert StorageManager.upload_folder(str(local / "tree"), tree, match_wildcard="*.txt") == tree
    assert StorageManager.exists_file(f"{base}/a.csv")
    assert not StorageManager.exists_file(f"{base}/nothing.csv")
    assert not StorageManager.exists_file(f"{tree}/")
    assert StorageManager.get_file_size_bytes(f"{base}/a.csv") == 4
    stream = StorageManager.get_stream(f"{base}/a.csv", chunk_size=3)
    assert stream is not None
    assert list(stream) == [b"a,b", b"\n"]

    in_bucket = "" if where == "folder" else base.split("/", 3)[3] + "/"
    names = [f"{in_bucket}one.txt", f"{in_bucket}sub/two.txt"]
    if in_bucket:
        names = [f"{in_bucket}tree/one.txt", f"{in_bucket}tree/sub/two.txt"]
    assert sorted(StorageManager.list(tree) or []) == names
    full = sorted(str(n) for n in StorageManager.list(tree, return_full_path=True) or [])
    assert full == [f"{tree}/one.txt", f"{tree}/sub/two.txt"]
    sizes = StorageManager.list(tree, with_metadata=True) or []
    assert sorted((d["name"], d["size"]) for d in sizes if isinstance(d, dict)) == list(
        zip(names, [1, 2], strict=True)
    )

    copy = StorageManager.get_local_copy(f"{base}/a.csv")
    assert copy is not None
    assert Path(copy).read_bytes() == b"a,b\n"
    kept_as = Path(StorageManager.download_file(f"{base}/a.csv", str(tmp_path / "out")) or "")
    assert kept_as.read_bytes() == b"a,b\n"
    assert kept_as.as_posix().endswith(f"{in_bucket}a.csv")
    out = tmp_path / "folder-out"
    assert StorageManager.download_folder(
        tree, str(out), match_wildcard="*two*", max_workers=2
    ) == str(out)
    assert [p.name for p in out.rglob("*") if p.is_file()] == ["two.txt"]


def test_a_missing_object_is_one_sentence_in_a_bucket(s3_url: str) -> None:
    with pytest.raises(NotFoundError) as caught:
        StorageManager.get_local_copy(f"{s3_url}/missing.csv")
    one_sentence(caught.value)
    assert StorageManager.get_metadata(f"{s3_url}/missing.csv") is None


# -- the cache ------------------------------------------------------------------------------------


GET_ALL = (
    "import sys\nfrom deltaset import StorageManager\n"
    "for url in sys.argv[1:]:\n    StorageManager.get_local_copy(url, cache_context='c')\n"
)
GET_AND_WAIT = GET_ALL + "print('ready', flush=True)\nsys.stdin.read()\n"


def entries(home: Path) -> set[str]:
    return {p.name for p in (home / "cache" / "files").rglob("*") if p.suffix == ".bin"}


def test_the_cache_evicts_least_recently_used_files_no_process_holds(
    site: web.WebFolder, isolation: Path
) -> None:
    urls = []
    for i in range(4):
        (site.folder / f"{i}.bin").write_bytes(bytes([i]) * 100)
        urls.append(f"{site.url}/{i}.bin")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    subprocess.run([sys.executable, "-c", GET_ALL, *urls[:3]], env=env, check=True)
    assert entries(isolation) == {"0.bin", "1.bin", "2.bin"}
    StorageManager.get_local_copy(urls[0], cache_context="c")  # used last, held by this process
    holder = subprocess.Popen(
        [sys.executable, "-c", GET_AND_WAIT, urls[1]],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "ready\n"
        assert StorageManager.set_cache_file_limit(1, cache_context="c") == 1
        assert entries(isolation) == {"0.bin", "1.bin"}  # 2.bin went; the others are held
    finally:
        holder.communicate("")
    StorageManager.set_cache_file_limit(1, cache_context="c")
    assert entries(isolation) == {"0.bin"}
    assert site.gets.count("/0.bin") == 1


def test_the_cache_keeps_to_its_byte_limit(
    site: web.WebFolder, isolation: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls = []
    for i in range(3):
        (site.folder / f"{i}.bin").write_bytes(bytes([i]) * 100)
        urls.append(f"{site.url}/{i}.bin")
    monkeypatch.setenv("DELTASET_CACHE_LIMIT", "150")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    subprocess.run([sys.executable, "-c", GET_ALL, *urls[:2]], env=env, check=True)
    assert entries(isolation) == {"0.bin", "1.bin"}  # both held while that process ran
    StorageManager.get_local_copy(urls[2], cache_context="c")
    assert entries(isolation) == {"2.bin"}


def test_clearmls_azure_urls_name_the_container_after_the_account(
    azure_url: str, tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_bytes(b"azure")
    container_path = azure_url.removeprefix("azure://")
    clearml_url = f"azure://devstoreaccount1.blob.core.windows.net/{container_path}/a.csv"
    StorageManager.upload_file(str(tmp_path / "a.csv"), clearml_url)
    assert StorageManager.get_file_size_bytes(f"{azure_url}/a.csv") == 5
    copy = StorageManager.get_local_copy(clearml_url)
    assert copy is not None
    assert Path(copy).read_bytes() == b"azure"
    assert StorageManager.list(clearml_url.removesuffix("/a.csv")) == ["datasets/a.csv"]


def test_a_download_never_climbs_out_of_its_folder(site: web.WebFolder, tmp_path: Path) -> None:
    (site.folder / "evil.txt").write_bytes(b"evil")
    out = tmp_path / "deep" / "out"
    with pytest.raises(InvalidInputError, match="climbs") as caught:
        StorageManager.download_file(f"{site.url}/a/../../../evil.txt", str(out))
    one_sentence(caught.value)
    assert list(tmp_path.rglob("evil.txt")) == [site.folder / "evil.txt"]
    assert site.gets == []
