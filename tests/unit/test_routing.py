"""Content-based routing as data: conditions, first match, routing-key templates, NoRoute."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import ConfigurationError, NoRoute
from gateway.routing import RoutingTable
from gateway.settings import Settings

SETTINGS = Settings()

ROUTES = """
[[route]]
name = "urgent office"
kind = "declaration"
when = { office = ["MK001005"], procedure_category = ["IM"] }
exchange = "customs.urgent"
routing_key = "urgent.{office}"

[[route]]
name = "imports and exports"
kind = "declaration"
when = { procedure_category = ["IM", "EX"] }
exchange = "customs.clearance"
routing_key = "declaration.{procedure_category}.{office}"

[[route]]
name = "kosovo offices by prefix"
kind = "declaration"
when = { office = "XK*" }
exchange = "customs.xk"
routing_key = "xk.{office}.{partner}"

[[route]]
name = "any notification"
kind = "notification"
when = { procedure_category = "*" }
exchange = "customs.notifications"
routing_key = "notification.{reference}"
"""


def table(tmp_path: Path, text: str = ROUTES) -> RoutingTable:
    path = tmp_path / "routes.toml"
    path.write_text(text, encoding="utf-8")
    return RoutingTable.load(path)


def test_route_for_first_match_wins(tmp_path: Path) -> None:
    """When two routes match, the earlier one in the file gives the destination."""
    destination = table(tmp_path).route_for(
        "declaration", {"office": "MK001005", "procedure_category": "IM"})
    assert destination.route == "urgent office"
    assert destination.exchange == "customs.urgent"
    assert destination.routing_key == "urgent.MK001005"


def test_route_for_list_condition_matches_any_member(tmp_path: Path) -> None:
    """A list condition matches any listed value and nothing else."""
    routes = table(tmp_path)
    export = routes.route_for("declaration", {"office": "MK002000", "procedure_category": "EX"})
    assert export.route == "imports and exports"
    assert export.routing_key == "declaration.EX.MK002000"
    with pytest.raises(NoRoute):
        routes.route_for("declaration", {"office": "MK002000", "procedure_category": "CO"})


def test_route_for_all_conditions_must_hold(tmp_path: Path) -> None:
    """The urgent route needs both its office and its category."""
    destination = table(tmp_path).route_for(
        "declaration", {"office": "MK001005", "procedure_category": "EX"})
    assert destination.route == "imports and exports"


def test_route_for_prefix_condition(tmp_path: Path) -> None:
    """'XK*' matches offices starting with XK only."""
    routes = table(tmp_path)
    destination = routes.route_for("declaration", {"office": "XK000123", "partner": "p1"})
    assert destination.route == "kosovo offices by prefix"
    assert destination.routing_key == "xk.XK000123.p1"
    with pytest.raises(NoRoute):
        routes.route_for("declaration", {"office": "MKXK0001"})


def test_route_for_wildcard_condition(tmp_path: Path) -> None:
    """'*' matches any value of the attribute."""
    destination = table(tmp_path).route_for(
        "notification", {"procedure_category": "ZZ", "reference": "R-1"})
    assert destination.route == "any notification"
    assert destination.routing_key == "notification.R-1"


def test_route_for_kind_must_match(tmp_path: Path) -> None:
    """A route for another kind never matches, whatever the attributes."""
    with pytest.raises(NoRoute):
        table(tmp_path).route_for("decision", {"procedure_category": "IM", "office": "X"})


def test_route_for_missing_placeholder_defaults_to_none(tmp_path: Path) -> None:
    """A routing-key placeholder without an attribute becomes 'none'."""
    destination = table(tmp_path).route_for("declaration", {"office": "XK000001"})
    assert destination.routing_key == "xk.XK000001.none"
    notification = table(tmp_path).route_for("notification", {"procedure_category": "IM"})
    assert notification.routing_key == "notification.none"


def test_route_for_no_route_lists_attributes(tmp_path: Path) -> None:
    """NoRoute names the kind and every attribute (sorted) and keeps them as context."""
    attributes = {"procedure_category": "TR", "office": "MK009999", "reference": "LRN-7"}
    with pytest.raises(NoRoute) as caught:
        table(tmp_path).route_for("declaration", attributes)
    error = caught.value
    assert error.code == "GW-ROUTE-NONE"
    assert error.message == ("no route for a declaration with office=MK009999, "
                             "procedure_category=TR, reference=LRN-7")
    assert error.context == {"kind": "declaration", **attributes}


def test_routing_table_bad_placeholder_is_configuration_error(tmp_path: Path) -> None:
    """A routing key with a placeholder that is not a name is rejected at load."""
    with pytest.raises(ConfigurationError) as caught:
        table(tmp_path, '[[route]]\nname = "r"\nkind = "k"\nexchange = "e"\n'
                        'routing_key = "a.{office.code}"\n')
    assert "office.code" in caught.value.message


def test_routing_table_missing_key_is_configuration_error(tmp_path: Path) -> None:
    """A route without an exchange is a ConfigurationError naming the missing key."""
    with pytest.raises(ConfigurationError) as caught:
        table(tmp_path, '[[route]]\nname = "r"\nkind = "k"\nrouting_key = "a"\n')
    assert "exchange" in caught.value.message


def test_repository_routes_load_and_route_imports() -> None:
    """config/routes.toml loads; an import goes to customs.clearance by office."""
    routes = RoutingTable.load(SETTINGS.config_dir / "routes.toml")
    assert len(routes.routes) >= 3
    destination = routes.route_for("declaration", {"procedure_category": "IM",
                                                   "office": "MK001005"})
    assert destination.exchange == "customs.clearance"
    assert destination.routing_key == "declaration.import.MK001005"
    export = routes.route_for("declaration", {"procedure_category": "EX", "office": "MK001021"})
    assert export.routing_key == "declaration.export.MK001021"
    with pytest.raises(NoRoute):
        routes.route_for("declaration", {"procedure_category": "TR", "office": "MK001005"})


@pytest.mark.parametrize("type_code, category, key", [
    ("INV", "IN", "declaration.request.none"),      # cancellation request
    ("GPR", "GP", "declaration.request.none"),      # goods presentation (a movement message)
    ("", "", "declaration.request.none"),
    ("COR", "CO", "declaration.other.none"),        # the procedure categories come first
])
def test_repository_routes_send_requests_on_lodged_declarations_to_clearance(
        type_code: str, category: str, key: str) -> None:
    """A function-code-13 request whose type names no procedure still reaches clearance."""
    routes = RoutingTable.load(SETTINGS.config_dir / "routes.toml")
    attributes = {"function_code": "13", "declaration_type": type_code,
                  "procedure_category": category, "office": ""}
    destination = routes.route_for("declaration", attributes)
    assert (destination.exchange, destination.routing_key) == ("customs.clearance", key)


def test_repository_routes_still_park_an_original_of_unknown_category() -> None:
    """An original declaration (function code 9) of no known procedure category has no route."""
    routes = RoutingTable.load(SETTINGS.config_dir / "routes.toml")
    with pytest.raises(NoRoute):
        routes.route_for("declaration", {"function_code": "9", "declaration_type": "GPR",
                                         "procedure_category": "GP", "office": ""})


def test_declaration_routing_attributes_carry_the_function_code() -> None:
    """The declaration kind offers its WCO FunctionCode (017) to the routing table."""
    from gateway.canonical.declaration import Declaration, Header
    from gateway.canonical.kinds import declaration_attributes

    attributes = declaration_attributes(Declaration(header=Header(function_code="13",
                                                                  type_code="GPR")))
    assert attributes["function_code"] == "13"
    assert attributes["declaration_type"] == "GPR"
