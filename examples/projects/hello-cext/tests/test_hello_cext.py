"""The wheel's test (wheelbuild's `test-command`): run against the installed wheel."""

import hello_cext


def test_add():
    assert hello_cext.add(2, 3) == 5


def test_imported_from_the_installed_wheel():
    print("hello_cext from", hello_cext.__file__)
    assert "site-packages" in hello_cext.__file__
