"""Policy registry: the scripted players. LLM policies are built from a backend (LLMPolicy)."""

from sparring.policies.base import LLMPolicy, Policy
from sparring.registry import Registry

TRAINED = "policy"  # the policy id of the model being trained (the latest checkpoint) in every episode spec

POLICIES: Registry[Policy] = Registry("policy")
POLICIES.register("random-legal", "sparring.policies.scripted:RandomLegal",
                  "a uniformly random legal action (any env whose turns list legal_actions)")
POLICIES.register("tictactoe-minimax", "sparring.policies.scripted:TicTacToeMinimax",
                  "perfect tic-tac-toe (minimax), a random one among equally good moves")
POLICIES.register("kuhn-equilibrium", "sparring.policies.scripted:KuhnEquilibrium",
                  "a Nash equilibrium of Kuhn poker (the first seat's value against it: -1/18 chip a hand)")

__all__ = ["POLICIES", "TRAINED", "LLMPolicy", "Policy"]
