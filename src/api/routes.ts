import type { ConnectRouter } from "@connectrpc/connect";
import { OrderService } from "../../gen/oms/v1/order_service_pb.js";
import type { OrderCommands } from "../temporal/order-commands.js";
import { createOrderServiceHandlers } from "./order-service.js";

export interface RouteDependencies {
  commands: OrderCommands;
}

/** Every service the API port serves. */
export function createRoutes(deps: RouteDependencies): (router: ConnectRouter) => void {
  return (router) => {
    router.service(OrderService, createOrderServiceHandlers(deps.commands));
  };
}
