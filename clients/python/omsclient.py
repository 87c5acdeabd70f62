"""Exercise oms.v1.OrderService from Python with plain grpcio.

Submits an order, reads it back, cancels it, asks for an unknown order and
sends an invalid request, printing what it sees. The last line of output is
a JSON summary (the same keys as the Go client) that
test/polyglot/clients.test.ts asserts on.

    python omsclient.py --target 127.0.0.1:8080 --order-id my-order-1

Needs the stubs in gen/ (scripts/setup-polyglot.sh generates them) and the
packages in requirements.txt.
"""

import argparse
import json
import os
import sys
import time

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

# The generated modules import each other as top-level packages (oms.v1,
# buf.validate), so gen/ itself goes on the import path.
GEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen")
sys.path.insert(0, GEN)

from oms.v1 import order_pb2 as order  # noqa: E402
from oms.v1 import order_service_pb2 as svc  # noqa: E402
from oms.v1 import order_service_pb2_grpc as svc_grpc  # noqa: E402


def valid_order(order_id):
    return svc.SubmitOrderRequest(
        order_id=order_id,
        customer_id="customer-python",
        currency_code="USD",
        items=[
            order.LineItem(sku="SKU-PY-1", quantity=2, unit_price_minor=1250),
        ],
        shipping_address=order.Address(
            name="Guido van Rossum",
            line1="1 Python Lane",
            city="Amsterdam",
            postal_code="1011",
            country_code="NL",
        ),
    )


def describe(err):
    """Return (code, ErrorInfo or None, BadRequest or None) of an RpcError.

    rpc_status.from_call decodes grpc-status-details-bin into a
    google.rpc.Status whose details are google.protobuf.Any values to unpack
    by type. The code is lower snake case ("not_found"), as connect-go and
    buf curl print it.
    """
    info, bad_request = None, None
    status = rpc_status.from_call(err)
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
    return err.code().name.lower(), info, bad_request


def expect_error(call, request, timeout):
    try:
        call(request, timeout=timeout)
    except grpc.RpcError as err:
        return err
    name = request.DESCRIPTOR.name
    raise SystemExit(f"omsclient: {name} succeeded, expected an error")


def status_name(value):
    return order.OrderStatus.Name(value)


def run(target, order_id, timeout):
    out = {}
    with grpc.insecure_channel(target) as channel:
        client = svc_grpc.OrderServiceStub(channel)

        submitted = client.SubmitOrder(valid_order(order_id), timeout=timeout)
        out["submitted_status"] = status_name(submitted.order.status)
        print(f"submitted {order_id}: {out['submitted_status']}")

        got = client.GetOrder(
            svc.GetOrderRequest(order_id=order_id), timeout=timeout
        )
        out["got_status"] = status_name(got.order.status)
        lines = len(got.order.items)
        print(f"got {order_id}: {out['got_status']}, {lines} line(s)")

        cancel = svc.CancelOrderRequest(
            order_id=order_id, reason="omsclient-python"
        )
        cancelled = client.CancelOrder(cancel, timeout=timeout)
        out["cancelled"] = cancelled.order.HasField("cancellation")
        out["cancel_reason"] = cancelled.order.cancellation.description
        print(
            f"cancelled {order_id}: "
            f"status {status_name(cancelled.order.status)}, "
            f"cancellation {out['cancel_reason']!r}"
        )

        # An unknown order: NOT_FOUND with ErrorInfo{reason: ORDER_NOT_FOUND}.
        err = expect_error(
            client.GetOrder,
            svc.GetOrderRequest(order_id=f"missing-{order_id}"),
            timeout,
        )
        code, info, _ = describe(err)
        if info is None:
            raise SystemExit(f"omsclient: NOT_FOUND without ErrorInfo: {err}")
        out["not_found_code"] = code
        out["not_found_reason"] = info.reason
        out["not_found_domain"] = info.domain
        print(
            f"unknown order: {code} {info.domain}/{info.reason} "
            f"metadata={dict(info.metadata)}"
        )

        # No lines: INVALID_ARGUMENT with a BadRequest naming the field.
        invalid = valid_order(f"{order_id}-invalid")
        del invalid.items[:]
        err = expect_error(client.SubmitOrder, invalid, timeout)
        code, info, bad_request = describe(err)
        if bad_request is None:
            raise SystemExit(f"omsclient: no BadRequest in {err}")
        out["invalid_code"] = code
        out["invalid_reason"] = info.reason if info else ""
        out["violations"] = [v.field for v in bad_request.field_violations]
        for v in bad_request.field_violations:
            print(f"invalid order: {v.field}: {v.description}")

    print(json.dumps(out, separators=(",", ":")))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--target",
        default="127.0.0.1:8080",
        help="host:port of the OMS API (an http:// URL is accepted too)",
    )
    parser.add_argument("--order-id", default=f"py-{time.time_ns()}")
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds per call"
    )
    args = parser.parse_args()
    target = args.target.removeprefix("http://").rstrip("/")
    run(target, args.order_id, args.timeout)


if __name__ == "__main__":
    main()
