"""The Pinecone SDK against NeedleDB (the Pinecone emulator), through a host process:
index management over HTTP, the data plane through the SDK."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from .conftest import HostProcess, live, target

pytestmark = live("pinecone")
Spawn = Callable[[str], HostProcess]


def session(spawn: Spawn) -> HostProcess:
    host = spawn("pinecone")
    host.ok("connect", target=target("pinecone"), autocommit=True)
    return host


def vector(host: HostProcess, **operation: Any) -> Any:
    return host.ok("vector", operation=operation)["answer"]


def test_index_lifecycle_and_data_plane(spawn: Spawn) -> None:
    host = session(spawn)
    assert host.hello["capabilities"] == ["vectors"]
    name = f"hdh-pc-{os.getpid()}"
    try:
        assert vector(host, op="create_index", name=name, dimension=4, metric="cosine") == {
            "done": True
        }
        assert name in vector(host, op="list_indexes")["indexes"]
        described = vector(host, op="describe_index", name=name)["json"]
        assert described["name"] == name
        assert described["dimension"] == 4
        assert described["metric"] == "cosine"

        upserted = vector(
            host,
            op="upsert",
            index=name,
            namespace="ns1",
            vectors=[
                {"id": "vec1", "values": [1.0, 0.0, 0.0, 0.0], "metadata": {"category": "A"}},
                {"id": "vec2", "values": [1.0, 0.2, 0.0, 0.0], "metadata": {"category": "B"}},
                {"id": "vec3", "values": {"fill": 0.5, "dim": 4}, "metadata": {"category": "A"}},
            ],
        )
        assert upserted == {"upserted": 3}

        answer = vector(
            host,
            op="vector_query",
            index=name,
            namespace="ns1",
            vector=[1, 0.2, 0, 0],
            top_k=2,
            filter={"category": "A"},
            include_metadata=True,
        )
        assert answer["metric"] == "cosine"
        assert [m["id"] for m in answer["matches"]] == ["vec1", "vec3"]
        assert all(m["metadata"] == {"category": "A"} for m in answer["matches"])
        assert answer["matches"][0]["score"] > answer["matches"][1]["score"]

        by_id = vector(host, op="vector_query", index=name, namespace="ns1", id="vec2", top_k=1)
        assert [m["id"] for m in by_id["matches"]] == ["vec2"]

        fetched = vector(
            host, op="fetch_vectors", index=name, namespace="ns1", ids=["vec2", "vec1", "nope"]
        )
        assert fetched == {"ids": ["vec1", "vec2"]}

        stats = vector(host, op="describe_index_stats", index=name)["json"]
        assert stats["dimension"] == 4
        assert stats["totalVectorCount"] == 3
        assert stats["namespaces"]["ns1"]["vectorCount"] == 3

        assert vector(host, op="delete_vectors", index=name, namespace="ns1", ids=["vec1"]) == {
            "done": True
        }
        assert vector(host, op="fetch_vectors", index=name, namespace="ns1", ids=["vec1"]) == {
            "ids": []
        }
        vector(
            host,
            op="delete_vectors",
            index=name,
            namespace="ns1",
            filter={"category": {"$eq": "B"}},
        )
        assert vector(
            host, op="fetch_vectors", index=name, namespace="ns1", ids=["vec2", "vec3"]
        ) == {"ids": ["vec3"]}
        vector(host, op="delete_vectors", index=name, namespace="ns1", delete_all=True)
        assert vector(host, op="describe_index_stats", index=name)["json"]["totalVectorCount"] == 0
    finally:
        host.request("vector", operation={"op": "delete_index", "name": name})
    assert name not in vector(host, op="list_indexes")["indexes"]


def test_errors_and_what_a_vector_database_lacks(spawn: Spawn) -> None:
    host = session(spawn)
    error = host.error("vector", operation={"op": "describe_index", "name": "hdh-no-such-index"})
    assert error["kind"] == "db"
    assert error["code"] is not None
    assert "404" in error["message"]
    error = host.error(
        "vector",
        operation={"op": "vector_query", "index": "hdh-no-such-index", "vector": [1], "top_k": 1},
    )
    assert error["kind"] == "db"
    assert host.error("query", sql="SELECT 1", params=[])["kind"] == "unsupported"
    assert host.error("begin")["kind"] == "unsupported"
    assert host.error("vector", operation={"op": "teleport"})["kind"] == "unsupported"
