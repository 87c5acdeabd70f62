/**
 * GetOrder over bare @grpc/grpc-js, both sides: a hand-written service
 * definition ((de)serialized with the generated protobuf-es schemas) for the
 * bench's baseline server, and a client that calls any gRPC server's GetOrder
 * (`oms api` and the baseline alike), so both are measured with the same client.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  type GetOrderRequest,
  GetOrderRequestSchema,
  type GetOrderResponse,
  GetOrderResponseSchema,
} from "../gen/oms/v1/order_service_pb.js";

export const GET_ORDER_PATH = "/oms.v1.OrderService/GetOrder";

const serializeRequest = (m: GetOrderRequest) => Buffer.from(toBinary(GetOrderRequestSchema, m));
const deserializeRequest = (b: Buffer) => fromBinary(GetOrderRequestSchema, b);
const serializeResponse = (m: GetOrderResponse) => Buffer.from(toBinary(GetOrderResponseSchema, m));
const deserializeResponse = (b: Buffer) => fromBinary(GetOrderResponseSchema, b);

/** oms.v1.OrderService with GetOrder alone. */
export const getOrderDefinition = {
  getOrder: {
    path: GET_ORDER_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: serializeRequest,
    requestDeserialize: deserializeRequest,
    responseSerialize: serializeResponse,
    responseDeserialize: deserializeResponse,
  },
} satisfies grpc.ServiceDefinition;

/** A grpc-js client (h2c) of GetOrder at `host:port`. */
export function getOrderClient(address: string) {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  return {
    getOrder(orderId: string): Promise<GetOrderResponse> {
      return new Promise((resolve, reject) => {
        client.makeUnaryRequest(
          GET_ORDER_PATH,
          serializeRequest,
          deserializeResponse,
          create(GetOrderRequestSchema, { orderId }),
          (err, res) => (err || res === undefined ? reject(err) : resolve(res)),
        );
      });
    },
    close: () => client.close(),
  };
}
