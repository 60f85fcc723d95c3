"""The delivery side: plan → queue → render → pace → send, alerts and digests."""
