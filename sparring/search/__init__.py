"""Tree search over env positions (PUCT), its LLM priors, and a player that searches before it moves."""

from sparring.search.mcts import SearchConfig, SearchResult, search

__all__ = ["SearchConfig", "SearchResult", "search"]
