"""The REST/JSON API: routes from the protos' google.api.http options, served by the same servicers."""
