"""A server killed with connections open starts again at once on its port: the connections it
left in TIME_WAIT do not count as another program listening there."""

from __future__ import annotations

import socket

import pytest

from deltaset.errors import InvalidInputError
from deltaset.server.run import check_port


def test_a_port_left_in_time_wait_is_free_to_listen_on() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = listener.accept()
    accepted.close()  # the server's side closes first: it is the one left in TIME_WAIT
    listener.close()
    client.close()
    check_port("127.0.0.1", port)


def test_a_port_another_program_listens_on_is_refused() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        with pytest.raises(InvalidInputError, match=f"Cannot listen on 127.0.0.1:{port}"):
            check_port("127.0.0.1", port)
