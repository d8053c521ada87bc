/**
 * Custom search attributes that make duo-sync runs findable in the Temporal Web UI. Imported by
 * workflows (to upsert them), by the dev-server launcher (to register them) and by clients (to query).
 * Search attributes are never encrypted by a payload codec: put no personal data in them.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const DuoSyncConnection = defineSearchAttributeKey('DuoSyncConnection', SearchAttributeType.KEYWORD);
export const DuoSyncKind = defineSearchAttributeKey('DuoSyncKind', SearchAttributeType.KEYWORD);
export const DuoSyncOutcome = defineSearchAttributeKey('DuoSyncOutcome', SearchAttributeType.KEYWORD);

export const DUO_SYNC_SEARCH_ATTRIBUTES = [DuoSyncConnection, DuoSyncKind, DuoSyncOutcome] as const;
