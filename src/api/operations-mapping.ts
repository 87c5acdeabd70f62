/**
 * Order operations (holds, edits) between protobuf messages and domain data.
 */
import { create } from "@bufbuild/protobuf";
import {
  HoldExpiryAction,
  type Hold as HoldMsg,
  HoldSchema,
  HoldStatus,
  HoldType,
} from "../../gen/oms/v1/order_operations_pb.js";
import type * as holds from "../domain/holds.js";
import { timestamp } from "./mapping.js";

export function holdToProto(hold: holds.Hold): HoldMsg {
  return create(HoldSchema, {
    holdId: hold.holdId,
    type: HoldType[hold.type],
    status: HoldStatus[hold.status],
    reason: hold.reason,
    placedBy: hold.placedBy,
    placeTime: timestamp(hold.placeTime),
    deadline: timestamp(hold.deadline),
    expiryAction: HoldExpiryAction[hold.expiryAction],
    releasedBy: hold.releasedBy,
    releaseReason: hold.releaseReason,
    releaseTime: timestamp(hold.releaseTime),
  });
}

/** A validated (defined, not UNSPECIFIED) proto hold type → the domain's. */
export function holdTypeFromProto(type: HoldType): holds.HoldType {
  return HoldType[type] as holds.HoldType;
}

export function holdTypesFromProto(types: readonly HoldType[]): holds.HoldType[] {
  return types.map(holdTypeFromProto);
}
