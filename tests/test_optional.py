"""A missing optional dependency: one line naming the install command, exit code 7."""

from __future__ import annotations

import pytest
import typer

from custseg.cli.app import EXIT_CODES, handles_errors
from custseg.exceptions import MissingDependencyError
from custseg.optional import import_optional


def test_present_module_is_imported():
    assert import_optional("json.decoder", "core", "JSON").__name__ == "json.decoder"


def test_missing_module_names_the_extra_to_install():
    with pytest.raises(MissingDependencyError) as info:
        import_optional("not_installed_anywhere.sub", "spark", "--engine spark")
    message = str(info.value)
    assert message == ("--engine spark needs the Python package 'not_installed_anywhere', which is "
                       "not installed. Install it with: pip install 'custseg[spark]'")
    assert isinstance(info.value, ImportError)


def test_command_line_exits_7_with_one_line(capsys):
    @handles_errors
    def command(traceback: bool = False) -> None:
        import_optional("not_installed_anywhere", "sql", "Reading a database")

    with pytest.raises(typer.Exit) as info:
        command()
    assert info.value.exit_code == EXIT_CODES[MissingDependencyError] == 7
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "pip install 'custseg[sql]'" in err
    assert "Traceback" not in err
