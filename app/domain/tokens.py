"""Browser tokens' lifetime, shared by the signer (auth) and the store of their credits."""

# A browser token lives at most this long; the clocks of the replica that minted it and of the
# one that checks it may differ by the leeway. The store keeps a token's credits as long.
TOKEN_MAX_TTL_SECONDS = 3600
TOKEN_LEEWAY_SECONDS = 5
