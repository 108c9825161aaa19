"""Protocol translation: clients speak JSON, the warehouse's legacy stock service speaks XML and form data.

    the client asks                   the gateway asks the stock service
    GET  /api/stock/1                 GET  /stock?sku=1  (Accept: application/xml)
    POST /api/stock/1 {"delta": -2}   POST /stock  with the form sku=1&delta=-2

    the stock service answers   <stock><sku>1</sku><quantity>40</quantity><warehouse>north</warehouse></stock>
    the client gets             {"sku": 1, "quantity": 40, "warehouse": "north", "in_stock": true}

The gateway turns the client's JSON into a form on the way in and the XML into JSON on the way out, errors
included (`<error><code>NOT_FOUND</code><message>..</message></error>` with a 4xx becomes the gateway's JSON
error with the same status and `upstream_code`; a 5xx, or an answer that is not XML, is a 502). Nobody has
to rewrite the warehouse for the mobile app's sake, and when it is rewritten one day, clients will not
notice. An sku over `ID_MAX` is a 404 here, as the route does not match it.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET

from flask import Blueprint, request

from ..base import ApiError, Int, call, read_json
from .routing import ID_MAX, PUBLIC


def stock_from_xml(answer) -> dict:
    """The legacy stock service's XML answer as the JSON the gateway's clients get (or an ApiError)."""
    try:
        doc = ET.fromstring(answer.content)
    except ET.ParseError:
        raise ApiError(502, "the stock service answered something that is not XML") from None
    fields = {child.tag: child.text or "" for child in doc}
    if doc.tag == "error" or answer.status_code >= 400:
        status = answer.status_code if 400 <= answer.status_code < 500 else 502
        raise ApiError(status, fields.get("message", "the stock service refused"), upstream_code=fields.get("code"))
    return {"sku": int(fields["sku"]), "quantity": int(fields["quantity"]), "warehouse": fields["warehouse"],
            "in_stock": int(fields["quantity"]) > 0}


def routes(gateway) -> Blueprint:
    """/api/stock/<sku>: anyone may read a stock level; moving stock needs stock:write."""
    bp = Blueprint("gateway_translation", __name__)

    @bp.route(f"/api/stock/<int(max={ID_MAX}):sku>", methods=["GET", "POST"])
    def stock(sku: int):
        _, headers = gateway.admit({"GET": PUBLIC, "POST": ["stock:write"]})
        base_url = gateway.upstreams.pick("stock")
        headers["Accept"] = "application/xml"
        if request.method == "GET":
            answer = call("GET", f"{base_url}/stock", upstream="stock", headers=headers, params={"sku": sku})
        else:
            body = read_json(delta=Int(min=-1_000_000, max=1_000_000))
            headers.pop("Content-Type", None)  # requests sets the form's own
            answer = call("POST", f"{base_url}/stock", upstream="stock", headers=headers,
                          data={"sku": str(sku), "delta": str(body["delta"])})
        return stock_from_xml(answer)

    return bp
