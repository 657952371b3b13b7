"""The private files of `prsm-tasks up`'s data dir: never followed through a symlink, never
reused when another user could have read them."""

from __future__ import annotations

import stat
from pathlib import Path

from prsm_tasks.config import Settings
from prsm_tasks.local import (
    prepare_data_dir,
    private_secret,
    read_private_file,
    with_local_nats,
    write_endpoints,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_the_data_dir_is_closed_to_others(tmp_path: Path) -> None:
    opened = tmp_path / "data"
    opened.mkdir(mode=0o755)
    opened.chmod(0o755)
    assert prepare_data_dir(opened) == opened.resolve()
    assert mode(opened) == 0o700
    assert mode(prepare_data_dir(tmp_path / "new" / "data")) == 0o700


def test_a_secret_is_made_once_then_reused(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    first = private_secret(path)
    assert mode(path) == 0o600 and len(first) >= 32
    assert private_secret(path) == first


def test_a_secret_others_could_read_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("leaked\n")
    path.chmod(0o644)
    assert read_private_file(path) is None
    fresh = private_secret(path)
    assert fresh != "leaked" and mode(path) == 0o600


def test_a_symlink_in_place_of_a_secret_is_never_followed(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("someone else's file\n")
    target.chmod(0o600)
    path = tmp_path / "secret"
    path.symlink_to(target)
    assert read_private_file(path) is None
    private_secret(path)
    assert not path.is_symlink() and mode(path) == 0o600
    assert target.read_text() == "someone else's file\n"


def test_local_credentials_go_only_to_the_local_server(tmp_path: Path) -> None:
    data_dir = prepare_data_dir(tmp_path / ".prsm")
    private_secret(data_dir / "nats_password")
    write_endpoints(data_dir, nats="nats://127.0.0.1:4999")
    assert mode(data_dir / "endpoints.json") == 0o600

    found = with_local_nats(Settings(data_dir=data_dir))
    assert found.servers == ["nats://127.0.0.1:4999"] and found.nats_user == "prsm"
    assert found.nats_password_file == data_dir / "nats_password"

    elsewhere = with_local_nats(Settings(data_dir=data_dir, servers="nats://remote:4222"))
    assert elsewhere.servers == ["nats://remote:4222"] and elsewhere.nats_user is None

    own = with_local_nats(Settings(data_dir=data_dir, nats_user="me", nats_password="pw"))
    assert own.servers == ["nats://127.0.0.1:4999"] and own.nats_user == "me"
