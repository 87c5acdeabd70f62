/** SLA clocks: domain ↔ protobuf (oms.v1.OrderSla, SlaState). */
import { create } from "@bufbuild/protobuf";
import {
  type OrderSla as OrderSlaMsg,
  OrderSlaSchema,
  SlaStage,
  SlaStageClockSchema,
  SlaState,
} from "../../gen/oms/v1/sla_pb.js";
import type { OrderSla } from "../domain/sla.js";
import type { SlaFilter } from "../readmodel/store.js";
import { timestamp } from "./mapping.js";

export function slaToProto(sla: OrderSla | undefined): OrderSlaMsg | undefined {
  if (sla === undefined) return undefined;
  return create(OrderSlaSchema, {
    stages: sla.stages.map((s) =>
      create(SlaStageClockSchema, {
        stage: SlaStage[s.stage],
        deadline: timestamp(s.deadline),
        atRiskTime: timestamp(s.atRiskTime),
        metTime: timestamp(s.metTime),
        breachTime: timestamp(s.breachTime),
        breached: s.breachTime !== "",
      }),
    ),
  });
}

/** ListOrders' sla_state; unspecified: no SLA filter. */
export function slaFilterFromProto(state: SlaState): SlaFilter | undefined {
  switch (state) {
    case SlaState.AT_RISK:
      return "AT_RISK";
    case SlaState.BREACHED:
      return "BREACHED";
    default:
      return undefined;
  }
}
