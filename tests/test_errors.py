"""nbserver.errors: the errno-to-HTTP table, its messages, and the base handler's backstop.

The conditions themselves are created for real in tests/services/contents/test_oserrors.py;
here each errno's verdict is checked once, including the ones a test cannot easily cause
(EDQUOT needs quotas, EMFILE a process out of descriptors).
"""

from __future__ import annotations

import errno
import os

import pytest

from nbserver.base.handlers import error_status_and_message
from nbserver.errors import (
    Conflict,
    Forbidden,
    InsufficientStorage,
    InvalidInput,
    NbserverError,
    NotFound,
    error_for_os_error,
    os_errors_as,
)

SECRET_PATH = "/srv/private/users/alice/a.txt"


def os_error(code: int) -> OSError:
    return OSError(code, os.strerror(code), SECRET_PATH)


@pytest.mark.parametrize("code,kind,status", [
    (errno.ENOENT, NotFound, 404),
    (errno.ENOTDIR, NotFound, 404),
    (errno.ELOOP, NotFound, 404),
    (errno.ENAMETOOLONG, InvalidInput, 400),
    (errno.EACCES, Forbidden, 403),
    (errno.EPERM, Forbidden, 403),
    (errno.EROFS, Forbidden, 403),
    (errno.EEXIST, Conflict, 409),
    (errno.ENOTEMPTY, Conflict, 409),
    (errno.EBUSY, Conflict, 409),
    (errno.EXDEV, Conflict, 409),
    (errno.ENOSPC, InsufficientStorage, 507),
    (errno.EDQUOT, InsufficientStorage, 507),
    (errno.EMFILE, NbserverError, 503),
])
def test_each_errno_has_its_status(code, kind, status):
    error = error_for_os_error(os_error(code), "save", "notes/a.txt")
    assert isinstance(error, kind) and error.status_code == status
    assert error.message.startswith("Cannot save notes/a.txt: ")
    assert SECRET_PATH not in error.message and SECRET_PATH in (error.log_detail or "")


def test_the_disk_full_message_says_so():
    assert "the disk is full" in error_for_os_error(os_error(errno.ENOSPC), "save", "a.txt").message
    assert InsufficientStorage.reason == "Insufficient Storage"


def test_a_name_too_long_is_not_found_when_reading_and_invalid_when_writing():
    assert isinstance(error_for_os_error(os_error(errno.ENAMETOOLONG), "read", "a"), NotFound)
    assert isinstance(error_for_os_error(os_error(errno.ENAMETOOLONG), "save", "a"), InvalidInput)


def test_an_unknown_errno_is_500_with_the_systems_words_and_no_path():
    error = error_for_os_error(os_error(errno.EIO), "read", "")
    assert error.status_code == 500
    assert error.message == "Cannot read the root folder: input/output error."


def test_os_errors_as_maps_and_chains():
    with pytest.raises(Forbidden) as caught:
        with os_errors_as("delete", "a.txt"):
            raise os_error(errno.EACCES)
    assert isinstance(caught.value.__cause__, OSError)


@pytest.mark.parametrize("exc,status", [
    (os_error(errno.ELOOP), 404),
    (os_error(errno.ENOSPC), 507),
    (PermissionError(errno.EACCES, "Permission denied", SECRET_PATH), 403),
])
def test_an_os_error_escaping_any_handler_gets_its_status_and_no_path(exc, status):
    code, message, reason = error_status_and_message(exc, 500)
    assert code == status and SECRET_PATH not in message and "/srv" not in message


def test_an_os_error_without_errno_stays_a_500():
    assert error_status_and_message(OSError("stream closed"), 500)[0] == 500
