"""What a callback leaves alive while its event waits for the worker (runs.Event)."""

import gc
from uuid import uuid4

from langchain_comet.handler import _start_data
from langchain_comet.runs import Event
from langchain_comet.serialize import to_json


def test_an_event_is_one_object_whose_items_are_the_callbacks_arguments():
    run_id = uuid4()
    data = _start_data(None, ["seq:step:1"], {"user_id": "u1"}, {"name": "step"}, inputs={"q": 1})
    event = Event("on_chain_start", run_id, None, (7, 0), 1.0, 2.0, data)

    assert event.data is event
    assert event["inputs"] == {"q": 1} and event["name"] == "step"
    assert event["metadata"] == {"user_id": "u1"} and event["run_type"] is None
    assert (event.action, event.run_id, event.parent_run_id, event.step) == (
        "on_chain_start",
        run_id,
        None,
        7,
    )
    twin = Event("on_chain_start", run_id, None, (7, 0), 1.0, 2.0, data)
    assert event != twin and len({event, twin}) == 2  # an event is itself, not its arguments


def test_the_tags_and_prompts_an_event_copies_stop_being_tracked_by_the_collector():
    tags, prompts = ["seq:step:1", "map:key:a"], ["Tell me about otters"]
    data = _start_data(None, tags, None, {}, prompts=tuple(prompts))
    tags.append("added later")  # the caller's list is not the event's

    assert data["tags"] == ("seq:step:1", "map:key:a")
    gc.collect()  # tuples of strings are untracked at the collector's first look
    assert not gc.is_tracked(data["tags"]) and not gc.is_tracked(data["prompts"])
    assert to_json(data["tags"]) == ["seq:step:1", "map:key:a"]  # still a JSON array
