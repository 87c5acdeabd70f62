// Command omsclient exercises oms.v1.OrderService from Go with connect-go over
// the gRPC protocol (HTTP/2 without TLS, "h2c"): it submits an order, reads it
// back, cancels it, asks for an unknown order and sends an invalid request,
// printing what it sees. The last line of its output is a JSON summary that
// test/polyglot/clients.test.ts asserts on.
//
//	omsclient -url http://127.0.0.1:8080 -order-id my-order-1
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"connectrpc.com/connect"

	errdetails "oms.example.com/clients/go/gen/google/rpc"
	omsv1 "oms.example.com/clients/go/gen/oms/v1"
	"oms.example.com/clients/go/gen/oms/v1/omsv1connect"
)

// summary is the machine-readable result; the Python client prints the same keys.
type summary struct {
	SubmittedStatus string   `json:"submitted_status"`
	GotStatus       string   `json:"got_status"`
	Cancelled       bool     `json:"cancelled"`
	CancelReason    string   `json:"cancel_reason"`
	NotFoundCode    string   `json:"not_found_code"`
	NotFoundReason  string   `json:"not_found_reason"`
	NotFoundDomain  string   `json:"not_found_domain"`
	InvalidCode     string   `json:"invalid_code"`
	InvalidReason   string   `json:"invalid_reason"`
	Violations      []string `json:"violations"`
}

func main() {
	url := flag.String("url", "http://127.0.0.1:8080", "base URL of the OMS API (h2c)")
	orderID := flag.String("order-id", fmt.Sprintf("go-%d", time.Now().UnixNano()), "id of the order to submit")
	timeout := flag.Duration("timeout", 30*time.Second, "deadline for the whole run")
	flag.Parse()
	if flag.NArg() > 0 { // the URL may also be given as the only argument
		*url = flag.Arg(0)
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, *url, *orderID); err != nil {
		fmt.Fprintln(os.Stderr, "omsclient:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, url, orderID string) error {
	client := omsv1connect.NewOrderServiceClient(h2cClient(), url, connect.WithGRPC())
	var out summary

	submitted, err := client.SubmitOrder(ctx, connect.NewRequest(validOrder(orderID)))
	if err != nil {
		return fmt.Errorf("SubmitOrder: %w", err)
	}
	out.SubmittedStatus = submitted.Msg.GetOrder().GetStatus().String()
	fmt.Printf("submitted %s: %s\n", orderID, out.SubmittedStatus)

	got, err := client.GetOrder(ctx, connect.NewRequest(&omsv1.GetOrderRequest{OrderId: orderID}))
	if err != nil {
		return fmt.Errorf("GetOrder: %w", err)
	}
	out.GotStatus = got.Msg.GetOrder().GetStatus().String()
	fmt.Printf("got %s: %s, %d line(s)\n", orderID, out.GotStatus, len(got.Msg.GetOrder().GetItems()))

	cancelled, err := client.CancelOrder(ctx, connect.NewRequest(&omsv1.CancelOrderRequest{
		OrderId: orderID,
		Reason:  "omsclient-go",
	}))
	if err != nil {
		return fmt.Errorf("CancelOrder: %w", err)
	}
	cancellation := cancelled.Msg.GetOrder().GetCancellation()
	out.Cancelled = cancellation != nil
	out.CancelReason = cancellation.GetDescription()
	fmt.Printf("cancelled %s: status %s, cancellation %q\n",
		orderID, cancelled.Msg.GetOrder().GetStatus(), out.CancelReason)

	// An unknown order: NOT_FOUND with google.rpc.ErrorInfo{reason: ORDER_NOT_FOUND}.
	_, err = client.GetOrder(ctx, connect.NewRequest(&omsv1.GetOrderRequest{OrderId: "missing-" + orderID}))
	code, info, _ := describe(err)
	if err == nil || info == nil {
		return fmt.Errorf("GetOrder(unknown): want an error with ErrorInfo, got %v", err)
	}
	out.NotFoundCode, out.NotFoundReason, out.NotFoundDomain = code, info.GetReason(), info.GetDomain()
	fmt.Printf("unknown order: %s %s/%s metadata=%v\n", code, info.GetDomain(), info.GetReason(), info.GetMetadata())

	// No lines: INVALID_ARGUMENT with google.rpc.BadRequest naming the field.
	invalid := validOrder(orderID + "-invalid")
	invalid.Items = nil
	_, err = client.SubmitOrder(ctx, connect.NewRequest(invalid))
	code, info, badRequest := describe(err)
	if err == nil || badRequest == nil {
		return fmt.Errorf("SubmitOrder(invalid): want an error with BadRequest, got %v", err)
	}
	out.InvalidCode, out.InvalidReason = code, info.GetReason()
	out.Violations = []string{}
	for _, v := range badRequest.GetFieldViolations() {
		out.Violations = append(out.Violations, v.GetField())
		fmt.Printf("invalid order: %s: %s\n", v.GetField(), v.GetDescription())
	}

	line, err := json.Marshal(out)
	if err != nil {
		return err
	}
	fmt.Println(string(line))
	return nil
}

// describe returns the error's code ("not_found", …) and the ErrorInfo and
// BadRequest among its details. Details arrive in grpc-status-details-bin as
// google.protobuf.Any; detail.Value() resolves them through the protobuf
// registry, where the generated gen/google/rpc package registered its types.
func describe(err error) (string, *errdetails.ErrorInfo, *errdetails.BadRequest) {
	var connectErr *connect.Error
	if !errors.As(err, &connectErr) {
		return "", nil, nil
	}
	var info *errdetails.ErrorInfo
	var badRequest *errdetails.BadRequest
	for _, detail := range connectErr.Details() {
		value, err := detail.Value()
		if err != nil {
			continue // a detail type this client does not know
		}
		switch v := value.(type) {
		case *errdetails.ErrorInfo:
			info = v
		case *errdetails.BadRequest:
			badRequest = v
		}
	}
	return connectErr.Code().String(), info, badRequest
}

// h2cClient speaks HTTP/2 over plain TCP ("prior knowledge"), which gRPC needs
// and the OMS port serves. Go 1.24+ net/http does this natively, so no
// golang.org/x/net/http2 dependency is needed.
func h2cClient() *http.Client {
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: protocols}}
}

func validOrder(orderID string) *omsv1.SubmitOrderRequest {
	return &omsv1.SubmitOrderRequest{
		OrderId:      orderID,
		CustomerId:   "customer-go",
		CurrencyCode: "USD",
		Items: []*omsv1.LineItem{
			{Sku: "SKU-GO-1", Quantity: 2, UnitPriceMinor: 1250},
		},
		ShippingAddress: &omsv1.Address{
			Name:        "Rob Pike",
			Line1:       "1 Gopher Way",
			City:        "Berkeley",
			PostalCode:  "94704",
			CountryCode: "US",
		},
	}
}
