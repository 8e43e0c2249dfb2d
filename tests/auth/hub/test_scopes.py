"""Which access scopes grant a hub user this server (nbserver.auth.hub.scopes)."""

from nbserver.auth.hub.scopes import ServerTarget, grants_access, needs_owner_groups

ALICE = ServerTarget("alice")
ALICE_LAB = ServerTarget("alice", "lab")


def test_server_filter_grants_only_that_server():
    assert grants_access(["access:servers!server=alice/"], ALICE)
    assert not grants_access(["access:servers!server=alice/"], ALICE_LAB)
    assert grants_access(["access:servers!server=alice/lab"], ALICE_LAB)


def test_user_filter_grants_every_server_of_the_user():
    assert grants_access(["access:servers!user=alice"], ALICE_LAB)
    assert not grants_access(["access:servers!user=alicex"], ALICE)


def test_group_filter_needs_the_owner_in_the_group():
    scopes = ["access:servers!group=team"]
    assert needs_owner_groups(scopes)
    assert grants_access(scopes, ALICE, owner_groups=["team"])
    assert not grants_access(scopes, ALICE, owner_groups=["other"])


def test_unfiltered_access_grants_every_server():
    assert grants_access(["access:servers"], ALICE_LAB)


def test_other_scopes_grant_nothing():
    assert not grants_access(["read:users", "admin:servers", "access:services", "servers!user=alice",
                              "access:servers!service=alice/"], ALICE)
    assert not needs_owner_groups(["read:groups!group=team"])
