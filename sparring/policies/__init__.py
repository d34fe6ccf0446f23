"""Policy registry: the scripted players. LLM policies are built from a backend (LLMPolicy)."""

from sparring.policies.base import LLMPolicy, Policy
from sparring.registry import Registry

TRAINED = "policy"  # the policy id of the model being trained (the latest checkpoint) in every episode spec
TRAINED_GREEDY = "policy-greedy"  # the same model decoding greedily: what it answers without sampling

POLICIES: Registry[Policy] = Registry("policy", "sparring.policies")
POLICIES.register("random-legal", "sparring.policies.scripted:RandomLegal",
                  "a uniformly random legal action (any env whose turns list legal_actions)")
POLICIES.register("seed-proposer", "sparring.policies.scripted:SeedProposer",
                  "a proposer env's player that writes back one of the env's own seed problems (task 'propose')")
POLICIES.register("tictactoe-minimax", "sparring.policies.scripted:TicTacToeMinimax",
                  "perfect tic-tac-toe (minimax), a random one among equally good moves")
POLICIES.register("kuhn-equilibrium", "sparring.policies.scripted:KuhnEquilibrium",
                  "a Nash equilibrium of Kuhn poker (the first seat's value against it: -1/18 chip a hand)")
POLICIES.register("matrix-nash", "sparring.policies.scripted:MatrixNash",
                  "a 2x2 matrix game's pure Nash equilibrium move (the better for it of two), else its maximin move")
POLICIES.register("tit-for-tat", "sparring.policies.scripted:TitForTat",
                  "the iterated prisoner's dilemma: cooperates first, then plays what the other played last")
POLICIES.register("negotiation-trader", "sparring.policies.scripted:NegotiationTrader",
                  "negotiation-v1: accepts what gains it value; offers 1 of what it values less for 2 of the other")
POLICIES.register("bargaining-concession", "sparring.policies.scripted:BargainingConcession",
                  "bargaining-v1: asks for 9,000 coins, 500 less each round (never under half); accepts what "
                  "beats its next demand, discounted")
POLICIES.register("taboo-definer", "sparring.policies.scripted:TabooDefiner",
                  "taboo-v1: as attacker the word's WordNet definition, masked; as defender the candidate whose "
                  "definition best matches the clues")
POLICIES.register("mcts", "sparring.search.player:SearchPlayer",
                  "rules-only tree search (PUCT, uniform priors, random rollouts, 100 simulations) in any env "
                  "that can be copied and lists its legal moves; mcts(<checkpoint>) searches with a model's priors")



def strong_players(env_id: str) -> list[str]:
    """The registered scripted players that play `env_id`'s game well (minimax, an equilibrium)."""
    game = env_id.rsplit("-v", 1)[0]
    return [p for p in POLICIES.ids() if getattr(POLICIES.load(p), "game", None) == game]


__all__ = ["POLICIES", "TRAINED", "TRAINED_GREEDY", "LLMPolicy", "Policy", "strong_players"]
