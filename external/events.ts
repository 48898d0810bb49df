/** What `homelab external` and its doctor checks report: typed events, never a token's value. */

export type ExternalObject = 'tunnel' | 'tunnel-config' | 'dns-record' | 'token' | 'secret'
/** keep: as wanted; conflict: someone else's object is in the way and is left alone. */
export type ExternalAction = 'create' | 'update' | 'rotate' | 'keep' | 'conflict'

export type ExternalEvent =
  | {
      readonly type: 'external.change'
      readonly object: ExternalObject
      readonly name: string
      readonly action: ExternalAction
      readonly detail: string
      /** True with --plan: the change was not made. */
      readonly planned: boolean
    }
  | { readonly type: 'external.done'; readonly changes: number; readonly planned: boolean }
  | {
      readonly type: 'external.check'
      readonly check: string
      readonly ok: boolean
      readonly detail: string
      readonly fix?: string
    }

export type ExternalSink = (event: ExternalEvent) => void
