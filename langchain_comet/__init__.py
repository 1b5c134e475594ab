"""Log everything a LangChain 1.x application does to Comet."""

from langchain_comet.attributes import trace_attributes
from langchain_comet.handler import CometCallbackHandler

__all__ = ["CometCallbackHandler", "trace_attributes"]
