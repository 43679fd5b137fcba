"""The tool registry of the tool-dialogue kind (ToolFlow, arXiv 2410.18447): the shipped tool
set, tool files (OpenAI style and bare), OpenAPI documents, one-line errors for bad specs,
and checking tool calls and results against the schemas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from synthloom.errors import UserInputError
from synthloom.operators.tools import Tool, ToolRegistry, ToolSchemaError, builtin
from synthloom.operators.tools.registry import MAX_MESSAGE_CHARS

WEATHER = {
    "name": "get_weather",
    "description": "Current weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name."},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "date": {"type": "string", "format": "date"},
        },
        "required": ["city"],
    },
    "returns": {
        "type": "object",
        "properties": {"temperature": {"type": "number"}, "sky": {"type": "string"}},
        "required": ["temperature"],
    },
}


def _write(folder: Path, name: str, data: object) -> Path:
    path = folder / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def _call(name: str, arguments: object) -> dict[str, object]:
    return {"id": "call_1", "type": "function",
            "function": {"name": name, "arguments": arguments}}


@pytest.fixture(scope="module")
def shipped() -> ToolRegistry:
    return builtin()


@pytest.fixture
def weather() -> ToolRegistry:
    return ToolRegistry([Tool(**WEATHER, domain="weather", source="weather.json")])


# ---- the shipped tool set -------------------------------------------------------------


def test_builtin_set_has_enough_tools_and_domains(shipped: ToolRegistry) -> None:
    registry = shipped
    assert len(registry) >= 36
    assert len(registry.domains) >= 6
    assert "news" not in registry.domains
    for domain in registry.domains:
        assert len(registry.in_domain(domain)) >= 6, domain
    assert registry.names == [tool.name for tool in registry]


def test_builtin_tools_are_fully_described(shipped: ToolRegistry) -> None:
    assert ToolRegistry.builtin().names == shipped.names
    for tool in shipped:
        assert tool.source.endswith(f"{tool.domain}.json")
        properties = tool.parameters["properties"]
        assert set(tool.parameters.get("required", [])) <= set(properties), tool.name
        for name, schema in properties.items():
            assert schema.get("description"), f"{tool.name}.{name}"
            assert "type" in schema, f"{tool.name}.{name}"
        assert tool.returns is not None and tool.returns["type"] == "object", tool.name
        for name, schema in tool.returns["properties"].items():
            assert schema.get("description"), f"{tool.name} returns {name}"


def test_builtin_set_has_the_designed_chains(shipped: ToolRegistry) -> None:
    registry = shipped

    def returned(tool: str) -> str:
        return json.dumps(registry[tool].returns)

    for producer, consumer, field in [
        ("search_flights", "book_flight", "flight_id"),
        ("find_product", "add_to_cart", "product_id"),
        ("list_accounts", "get_transactions", "account_id"),
        ("search_doctors", "get_available_slots", "doctor_id"),
        ("search_recipes", "get_recipe", "recipe_id"),
        ("search_emails", "reply_to_email", "message_id"),
        ("book_appointment", "create_event", "date"),
    ]:
        assert f'"{field}"' in returned(producer), (producer, field)
        assert field in registry[consumer].parameters["properties"], (consumer, field)


def test_openai_spec_leaves_out_returns(shipped: ToolRegistry) -> None:
    tool = shipped["book_flight"]
    spec = tool.openai_spec()
    assert spec == {"type": "function", "function": {
        "name": "book_flight", "description": tool.description, "parameters": tool.parameters}}
    registry = shipped
    assert [s["function"]["name"] for s in registry.openai_tools(["track_order", "checkout"])] \
        == ["track_order", "checkout"]
    assert len(registry.openai_tools()) == len(registry)
    with pytest.raises(KeyError, match="no_such_tool"):
        registry.openai_tools(["checkout", "no_such_tool"])


# ---- tool files ---------------------------------------------------------------------


def test_folder_with_openai_style_and_bare_specs(tmp_path: Path) -> None:
    openai_style = [{"type": "function", "function": {**WEATHER, "name": "weather_now"}},
                    {"type": "function", "function": {
                        "name": "ping", "description": "Check the service is up."}}]
    _write(tmp_path, "a_openai.json", openai_style)
    _write(tmp_path, "b_bare.json", {**WEATHER, "domain": "meteo"})
    _write(tmp_path, "notes.txt", "not a tool file")
    registry = ToolRegistry.from_path(tmp_path)
    assert registry.names == ["weather_now", "ping", "get_weather"]
    assert registry["weather_now"].domain == "a_openai"
    assert registry["get_weather"].domain == "meteo"
    assert registry["ping"].parameters == {"type": "object", "properties": {}}
    assert registry["ping"].returns is None
    assert registry["weather_now"].returns == WEATHER["returns"]
    assert registry.get("missing") is None and "ping" in registry
    single = ToolRegistry.from_path(tmp_path / "b_bare.json")
    assert single.names == ["get_weather"]
    assert single["get_weather"].source == str(tmp_path / "b_bare.json")


OPENAPI = {
    "openapi": "3.0.3",
    "info": {"title": "Pet store", "version": "1"},
    "paths": {
        "/pets/{petId}": {
            "parameters": [{"name": "petId", "in": "path", "required": True,
                            "description": "Id of the pet.", "schema": {"type": "string"}}],
            "get": {
                "operationId": "getPet",
                "summary": "Get one pet.",
                "parameters": [
                    {"name": "fields", "in": "query", "schema": {"type": "string"}},
                    {"name": "X-Trace", "in": "header", "schema": {"type": "string"}},
                ],
                "responses": {"200": {"description": "ok", "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}}},
            },
        },
        "/pets": {
            "post": {
                "description": "Add a pet to the store.",
                "parameters": [{"name": "dryRun", "in": "query", "required": True,
                                "schema": {"type": "boolean"}}],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/NewPet"}}}},
                "responses": {"201": {"description": "created", "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}}},
            },
        },
    },
    "components": {"schemas": {
        "NewPet": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string", "description": "Name of the pet."},
            "tag": {"type": "string"}}},
        "Pet": {"allOf": [{"$ref": "#/components/schemas/NewPet"}, {
            "type": "object", "properties": {"id": {"type": "integer"}}}]},
    }},
}


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_openapi_operations_become_tools(tmp_path: Path, suffix: str) -> None:
    text = json.dumps(OPENAPI) if suffix == ".json" else yaml.safe_dump(OPENAPI, sort_keys=False)
    registry = ToolRegistry.from_path(_write(tmp_path, f"petstore{suffix}", text))
    assert registry.names == ["getPet", "post_pets"]
    get_pet, add_pet = registry["getPet"], registry["post_pets"]
    assert get_pet.description == "Get one pet."
    assert add_pet.description == "Add a pet to the store."
    assert get_pet.domain == "petstore"
    assert get_pet.parameters == {
        "type": "object",
        "properties": {"petId": {"type": "string", "description": "Id of the pet."},
                       "fields": {"type": "string"}},
        "required": ["petId"]}
    assert add_pet.parameters["properties"] == {
        "dryRun": {"type": "boolean"},
        "name": {"type": "string", "description": "Name of the pet."},
        "tag": {"type": "string"}}
    assert add_pet.parameters["required"] == ["dryRun", "name"]
    pet = get_pet.returns
    assert pet is not None and add_pet.returns == pet
    assert "$ref" not in json.dumps(pet)
    assert pet["allOf"][0]["properties"]["name"]["type"] == "string"
    assert registry.validate_call(_call("getPet", {"petId": "p1"})) == []
    assert registry.validate_result("post_pets", {"name": "Rex", "id": 3}) == []
    assert registry.validate_result("post_pets", {"id": 3}) != []


def test_openapi_ref_errors(tmp_path: Path) -> None:
    broken = json.loads(json.dumps(OPENAPI))
    broken["paths"]["/pets"]["post"]["requestBody"]["content"]["application/json"]["schema"] \
        = {"$ref": "#/components/schemas/Nothing"}
    with pytest.raises(ToolSchemaError, match=r"petstore.json: \$ref '#/components/schemas/"
                                              r"Nothing' points to nothing"):
        ToolRegistry.from_path(_write(tmp_path, "petstore.json", broken))
    remote = {"openapi": "3.1.0", "paths": {"/a": {"get": {
        "summary": "A.", "responses": {"200": {"$ref": "other.yaml#/R"}}}}}}
    with pytest.raises(ToolSchemaError, match="only local"):
        ToolRegistry.from_path(_write(tmp_path, "remote.json", remote))


# ---- bad specs: one line, naming the tool and its file ------------------------------


def _with(**changes: object) -> dict[str, object]:
    spec = json.loads(json.dumps(WEATHER))
    spec.update(changes)
    return {key: value for key, value in spec.items() if value is not None}


BAD_SPECS = {
    "parameters not JSON Schema": (
        _with(parameters={"type": "object", "properties": {"city": {"type": "strng"}}}),
        "tool 'get_weather' (weather.json): parameters is not valid JSON Schema: 'strng' is "
        "not valid under any of the given schemas (at properties/city/type)"),
    "parameters not an object schema": (
        _with(parameters={"type": "array", "items": {"type": "string"}}),
        "tool 'get_weather' (weather.json): parameters must have \"type\": \"object\", "
        "got 'array'"),
    "parameters not a dict": (
        _with(parameters=["city"]),
        "tool 'get_weather' (weather.json): parameters must be a JSON object, got array"),
    "returns not JSON Schema": (
        _with(returns={"type": "object", "required": "temperature"}),
        "tool 'get_weather' (weather.json): returns is not valid JSON Schema: 'temperature' "
        "is not of type 'array' (at required)"),
    "empty description": (
        _with(description="  "),
        "tool 'get_weather' (weather.json): description is missing or empty"),
    "no description": (
        _with(description=None),
        "tool 'get_weather' (weather.json): description is missing or empty"),
    "no name": (
        _with(name=None), "tool #1 (weather.json): the tool has no name"),
    "bad name": (
        _with(name="get weather"),
        "tool 'get weather' (weather.json): name must be 1-64 letters, digits, '_' or '-'"),
    "not an object": (
        ["get_weather"], "tool #1 (weather.json): a tool spec must be a JSON object, got string"),
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_bad_spec_raises_one_line_error(tmp_path: Path, case: str) -> None:
    spec, message = BAD_SPECS[case]
    _write(tmp_path, "weather.json", spec)
    with pytest.raises(ToolSchemaError) as caught:
        ToolRegistry.from_path(tmp_path)
    assert str(caught.value) == message
    assert isinstance(caught.value, UserInputError)


def test_duplicate_names_name_both_files(tmp_path: Path) -> None:
    _write(tmp_path, "a.json", WEATHER)
    _write(tmp_path, "b.json", [{**WEATHER, "name": "other"}, WEATHER])
    with pytest.raises(ToolSchemaError) as caught:
        ToolRegistry.from_path(tmp_path)
    assert str(caught.value) == ("tool 'get_weather' (b.json): duplicate tool name, also "
                                 "defined in a.json")


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    _write(tmp_path, "broken.json", '{"name": "x",\n "description": }')
    with pytest.raises(ToolSchemaError, match=r"^broken.json: not valid JSON: Expecting value "
                                              r"at line 2 column 17$"):
        ToolRegistry.from_path(tmp_path)
    with pytest.raises(ToolSchemaError, match="no such file or folder"):
        ToolRegistry.from_path(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ToolSchemaError, match="no \\*.json tool files"):
        ToolRegistry.from_path(tmp_path / "empty")
    _write(tmp_path, "api.yaml", "openapi: 3.0.0\npaths: [unclosed\n")
    with pytest.raises(ToolSchemaError) as caught:
        ToolRegistry.from_path(tmp_path / "api.yaml")
    assert str(caught.value).startswith("api.yaml: not valid YAML:")
    assert "\n" not in str(caught.value)


def test_long_schema_messages_are_cut_to_one_line(tmp_path: Path) -> None:
    long_enum = {"type": "object", "properties": {
        "x": {"enum": "one\ntwo " + "very long text " * 40}}}
    _write(tmp_path, "long.json", _with(parameters=long_enum))
    with pytest.raises(ToolSchemaError) as caught:
        ToolRegistry.from_path(tmp_path)
    message = str(caught.value)
    assert "\n" not in message and len(message) <= MAX_MESSAGE_CHARS
    assert message.startswith("tool 'get_weather' (long.json): parameters is not valid")
    assert message.endswith("...")


# ---- tool calls and results ---------------------------------------------------------


@pytest.mark.parametrize("arguments", ['{"city": "Oslo", "unit": "celsius"}',
                                       {"city": "Oslo", "date": "2025-03-01"}])
def test_good_call_is_valid(weather: ToolRegistry, arguments: object) -> None:
    assert weather.validate_call(_call("get_weather", arguments)) == []


@pytest.mark.parametrize(("arguments", "errors"), [
    ('{"city": 42}', ["tool 'get_weather': argument $.city: 42 is not of type 'string'"]),
    ('{"unit": "celsius"}', ["tool 'get_weather': argument $: 'city' is a required property"]),
    ("", ["tool 'get_weather': argument $: 'city' is a required property"]),
    ('{"city": "Oslo", "unit": "kelvin"}',
     ["tool 'get_weather': argument $.unit: 'kelvin' is not one of ['celsius', 'fahrenheit']"]),
    ('{"city": "Oslo", "date": "2025-13-40"}',
     ["tool 'get_weather': argument $.date: '2025-13-40' is not a 'date'"]),
    ('{"city": 1, "unit": "k"}',
     ["tool 'get_weather': argument $.city: 1 is not of type 'string'",
      "tool 'get_weather': argument $.unit: 'k' is not one of ['celsius', 'fahrenheit']"]),
    ('{"city": "Oslo",}', ["tool 'get_weather': arguments are not valid JSON: Expecting "
                           "property name enclosed in double quotes at line 1 column 17"]),
    ('["Oslo"]', ["tool 'get_weather': arguments must be a JSON object, got array"]),
])
def test_bad_call_errors(weather: ToolRegistry, arguments: str, errors: list[str]) -> None:
    assert weather.validate_call(_call("get_weather", arguments)) == errors


def test_bad_call_shapes(weather: ToolRegistry) -> None:
    assert weather.validate_call(_call("get_wether", "{}")) == [
        "unknown tool 'get_wether' (did you mean 'get_weather'?)"]
    assert weather.validate_call(_call("book_flight", "{}")) == ["unknown tool 'book_flight'"]
    assert weather.validate_call(["get_weather"]) == [
        "tool call must be a JSON object, got array"]
    assert weather.validate_call({"type": "function"}) == ["tool call has no 'function' object"]
    assert weather.validate_call({**_call("get_weather", "{}"), "type": "code"}) == [
        "tool call type must be 'function', got 'code'"]


def test_validate_result(weather: ToolRegistry) -> None:
    assert weather.validate_result("get_weather", {"temperature": 3.5, "sky": "clear"}) == []
    assert weather.validate_result("get_weather", '{"temperature": 3}') == []
    assert weather.validate_result("get_weather", {"sky": 1}) == [
        "tool 'get_weather': result $: 'temperature' is a required property",
        "tool 'get_weather': result $.sky: 1 is not of type 'string'"]
    assert weather.validate_result("get_weather", "sunny")[0].startswith(
        "tool 'get_weather': result is not valid JSON:")
    assert weather.validate_result("nope", {}) == ["unknown tool 'nope'"]
    no_returns = ToolRegistry([Tool(name="ping", description="Ping.")])
    assert no_returns.validate_result("ping", {"anything": True}) == []


def test_builtin_call_round_trip(shipped: ToolRegistry) -> None:
    registry = shipped
    good = {"flight_id": "FL-1", "passenger_name": "Ana Silva",
            "passenger_email": "ana@example.com", "seat_preference": "aisle"}
    assert registry.validate_call(_call("book_flight", json.dumps(good))) == []
    bad = {**good, "seat_preference": "middle", "passenger_email": 7}
    assert len(registry.validate_call(_call("book_flight", bad))) == 2
