"""Lambda entry point of the 'webhooks' function: the routes the route table gives 'webhooks'."""

from prepkit.api.lambda_entry import make_handler

handler = make_handler("webhooks")
