"""One router per concern; each route calls exactly one service method."""
