"""Payload, output and event models of the double, as datamodel-code-generator would write them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class GreetPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    shout: bool = False
    fail: str | None = None
    sleep: float = 0.0
    job: bool = False


class GreetOutput(BaseModel):
    greeting: str
    name: str


class GreetedEvent(BaseModel):
    name: str


class WorkJob(BaseModel):
    task: str
    seconds: float = 0.0


class ShoutPayload(BaseModel):
    text: str


class ShoutOutput(BaseModel):
    text: str
