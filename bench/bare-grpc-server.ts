/**
 * The bench's baseline for the API's transport: `oms.v1.OrderService/GetOrder`
 * served by a bare @grpc/grpc-js server (no Connect, no interceptors, no
 * validation), from the same read model as `oms api` (createStore on the same
 * OMS_DATA_DIR) and with the same proto mapping, (de)serialized with the
 * generated protobuf-es schemas. Started by bench/run.ts as its own process;
 * prints `listening <port>` once it serves.
 */
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  type GetOrderRequest,
  type GetOrderResponse,
  GetOrderResponseSchema,
} from "../gen/oms/v1/order_service_pb.js";
import { orderToProto } from "../src/api/mapping.js";
import { loadConfig } from "../src/config/config.js";
import { createStore } from "../src/readmodel/create-store.js";
import { getOrderDefinition } from "./grpc-get-order.js";

async function main() {
  const config = loadConfig();
  const store = await createStore({
    databaseUrl: config.readModel.databaseUrl,
    dataDir: config.dataDir,
    pageTokenSecret: config.readModel.pageTokenSecret,
  });
  const server = new grpc.Server();
  server.addService(getOrderDefinition, {
    getOrder(
      call: grpc.ServerUnaryCall<GetOrderRequest, GetOrderResponse>,
      callback: grpc.sendUnaryData<GetOrderResponse>,
    ) {
      store.getOrder(call.request.orderId).then(
        (order) => {
          if (order === null) {
            callback({ code: grpc.status.NOT_FOUND, details: `order ${call.request.orderId}` });
          } else {
            callback(null, create(GetOrderResponseSchema, { order: orderToProto(order) }));
          }
        },
        (err: unknown) => callback({ code: grpc.status.UNAVAILABLE, details: String(err) }),
      );
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  process.stdout.write(`listening ${port}\n`);
  const stop = () => {
    server.tryShutdown(() => {
      void store.close().finally(() => process.exit(0));
    });
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

await main();
