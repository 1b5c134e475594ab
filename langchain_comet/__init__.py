"""Log everything a LangChain 1.x application does to Comet."""

from langchain_comet.handler import CometCallbackHandler

__all__ = ["CometCallbackHandler"]
