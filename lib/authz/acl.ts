import { inspect } from 'node:util'
import type { Permission } from '../types.js'
import { Allowed, Denied } from '../policies/policy.js'
import { Everyone } from './principals.js'

// A port of Pyramid 2.0's ACLHelper (pyramid/authorization.py) and its constants
// (pyramid/security.py). The Python source is the specification; differences are noted inline.

/**
 * The action of an ACE that grants (Pyramid's `Allow`).
 * @example
 * ```ts
 * import { Allow, type ACL } from 'fastify-jwt-security'
 *
 * class Root {
 *   // roles carry a prefix so that a user named 'admin' is not the admin role
 *   __acl__: ACL = [[Allow, 'role:admin', ['edit', 'delete']], [Allow, 'role:reports', 'reports']]
 * }
 * ```
 */
export const Allow = 'Allow'
/**
 * The action of an ACE that refuses (Pyramid's `Deny`).
 * @example
 * ```ts
 * import { Allow, Deny, type ACL } from 'fastify-jwt-security'
 *
 * // the first matching ACE decides, so the Deny must come before the broader Allow
 * const __acl__: ACL = [[Deny, 'role:intern', 'delete'], [Allow, 'role:staff', ['edit', 'delete']]]
 * ```
 */
export const Deny = 'Deny'

/**
 * The type of {@link ALL_PERMISSIONS}.
 * @example
 * ```ts
 * import { AllPermissionsList, type ACE } from 'fastify-jwt-security'
 *
 * // iterating ALL_PERMISSIONS yields nothing, so a permission listing must test for it first
 * function describe ([action, principal, permissions]: ACE): string {
 *   const names = permissions instanceof AllPermissionsList ? 'every permission' : [permissions].flat().join(', ')
 *   return `${action} ${principal}: ${names}`
 * }
 * ```
 */
export class AllPermissionsList implements Iterable<string> {
  /** Every permission is in the list. */
  includes (_permission: string): true {
    return true
  }

  /** Iterates as empty, as Pyramid's: the list holds every permission without naming any. */
  * [Symbol.iterator] (): Iterator<string> {}

  [inspect.custom] (): string {
    return 'ALL_PERMISSIONS'
  }

  toJSON (): string {
    return 'ALL_PERMISSIONS'
  }
}

/**
 * Stands for every permission in an ACE: `[Allow, 'role:admin', ALL_PERMISSIONS]`.
 * @example
 * ```ts
 * import { ALL_PERMISSIONS, Allow, type ACL } from 'fastify-jwt-security'
 *
 * class Root {
 *   // permissions added later are granted to admins without editing the ACL
 *   __acl__: ACL = [[Allow, 'role:admin', ALL_PERMISSIONS], [Allow, 'role:editor', 'edit']]
 * }
 * ```
 */
export const ALL_PERMISSIONS: AllPermissionsList = Object.freeze(new AllPermissionsList())

/**
 * The permissions an ACE names: one permission, a list of them, or {@link ALL_PERMISSIONS}.
 * @example
 * ```ts
 * import { Allow, type AcePermissions, type ACL } from 'fastify-jwt-security'
 *
 * // one list shared by several ACEs; a string would name a single permission, never a prefix
 * const writing: AcePermissions = ['edit', 'delete']
 * const __acl__: ACL = [[Allow, 'role:editor', writing], [Allow, 'role:admin', writing]]
 * ```
 */
export type AcePermissions = Permission | readonly Permission[] | ReadonlySet<Permission> | AllPermissionsList

/**
 * An access control entry: `[Allow | Deny, principal, permissions]`.
 * @example
 * ```ts
 * import { Allow, Deny, Everyone, type ACE } from 'fastify-jwt-security'
 *
 * // ACEs built per object: the owner is known only once the article is loaded
 * const ownerMayEdit: ACE = [Allow, article.owner, ['edit', 'delete']]
 * const archived: ACE = [Deny, Everyone, 'edit']
 * ```
 */
export type ACE = readonly [typeof Allow | typeof Deny, string, AcePermissions]

/**
 * An access control list: its entries in order; the first that matches decides.
 * @example
 * ```ts
 * import { Allow, Deny, Everyone, type ACL } from 'fastify-jwt-security'
 *
 * // a method, so the ACL follows the article's current state
 * class Article {
 *   constructor (readonly owner: string, readonly locked: boolean) {}
 *   __acl__ (): ACL { return this.locked ? [[Deny, Everyone, 'edit']] : [[Allow, this.owner, 'edit']] }
 * }
 * ```
 */
export type ACL = readonly ACE[]

/**
 * Refuses every permission to everyone: put it last in an ACL to stop inheritance (Pyramid's `DENY_ALL`).
 * @example
 * ```ts
 * import { Allow, DENY_ALL, type Resource } from 'fastify-jwt-security'
 *
 * // a private folder: without DENY_ALL, the root's grants would apply here too
 * const folder: Resource = { __parent__: root, __acl__: [[Allow, ownerId, ['view', 'edit']], DENY_ALL] }
 * ```
 */
export const DENY_ALL: ACE = Object.freeze([Deny, Everyone, ALL_PERMISSIONS] as const)

/**
 * An object permissions are checked against. Its ACL is `__acl__` (a list, or a method returning
 * one); its parent, whose ACL is consulted next, is `__parent__`.
 * @example
 * ```ts
 * import { ALL_PERMISSIONS, Allow, type Resource } from 'fastify-jwt-security'
 *
 * const root: Resource = { __acl__: [[Allow, 'role:admin', ALL_PERMISSIONS]] }
 * // __parent__ lets admins edit every article; __name__ shows in decision logs as <Object '42'>
 * const article: Resource = { __name__: '42', __parent__: root, __acl__: [[Allow, 'alice', 'edit']] }
 * ```
 */
export interface Resource {
  __acl__?: ACL | (() => ACL) | null | undefined
  __parent__?: Resource | null | undefined
  __name__?: string | undefined
}

/**
 * The `ace` of a default denial.
 * @example
 * ```ts
 * import { ACLHelper, DEFAULT_DENY } from 'fastify-jwt-security'
 *
 * const result = new ACLHelper().permits(article, principals, 'publish')
 * // no ACE matched: more often a missing grant than a deliberate refusal
 * if (!result.allowed && result.ace === DEFAULT_DENY) request.log.warn('no ACE grants publish')
 * ```
 */
export const DEFAULT_DENY = '<default deny>'
/**
 * The `acl` of a default denial when no object in the lineage has an ACL.
 * @example
 * ```ts
 * import { ACLHelper, NO_ACL_FOUND } from 'fastify-jwt-security'
 *
 * const result = new ACLHelper().permits(article, principals, 'edit')
 * // no ACL anywhere usually means a context built without its __parent__
 * if (result.acl === NO_ACL_FOUND) request.log.warn('article has no ACL and no parent with one')
 * ```
 */
export const NO_ACL_FOUND = '<No ACL found on any object in resource lineage>'

const MAX_LINEAGE = 1000

/** What the ACL results carry, as Pyramid's `ACLPermitsResult`. */
interface AclDecision {
  /** The ACE that decided, or {@link DEFAULT_DENY}. */
  readonly ace: ACE | typeof DEFAULT_DENY
  /** The ACL that held the ACE (for a default denial, the last ACL seen, or {@link NO_ACL_FOUND}). */
  readonly acl: ACL | typeof NO_ACL_FOUND
  readonly permission: string
  readonly principals: readonly string[]
  /** The object of the lineage whose ACL decided (for a default denial, the context checked). */
  readonly context: unknown
}

const ACL_TEMPLATE = '%s permission %s via ACE %s in ACL %s on context %s for principals %s'

// util.format renders %s with String(), so the values are wrapped to be shown as Python's %r shows them.
function aclFormatArgs ([name, permission, ace, acl, context, principals]: readonly unknown[]): unknown[] {
  return [name, new Repr(permission), new Repr(ace), new Repr(acl), new ContextRepr(context), new Repr(principals)]
}

/**
 * A permission granted by an ACE.
 * `msg`: `ACLAllowed permission 'view' via ACE [ 'Allow', 'wilma', 'view' ] in ACL … on context <Blog 'blog'> for principals […]`;
 * `args`: `['ACLAllowed', permission, ace, acl, context, principals]`, as Pyramid's;
 * `util.inspect` and `String()`: `<ACLAllowed with msg "…">`.
 * @example
 * ```ts
 * import { ACLAllowed } from 'fastify-jwt-security'
 *
 * const result = await request.hasPermission('edit', article)
 * // an audit trail records which grant was used, not only that there was one
 * if (result instanceof ACLAllowed) audit.record({ userid: request.authenticatedUserid, via: result.ace[1] })
 * ```
 */
export class ACLAllowed extends Allowed implements AclDecision {
  readonly ace: ACE
  readonly acl: ACL
  readonly permission: string
  readonly principals: readonly string[]
  readonly context: unknown

  constructor (ace: ACE, acl: ACL, permission: string, principals: readonly string[], context: unknown) {
    // Pyramid's args: the class name, then the values in the order of the template.
    super(ACL_TEMPLATE, new.target.name, permission, ace, acl, context, principals)
    this.ace = ace
    this.acl = acl
    this.permission = permission
    this.principals = principals
    this.context = context
  }

  protected override formatArgs (): readonly unknown[] {
    return aclFormatArgs(this.args)
  }
}

/**
 * A permission refused by an ACE, or by default when no ACE matched. `msg`, `args`, `util.inspect`
 * and `String()` as {@link ACLAllowed}'s, with `ACLDenied` as the class name.
 * @example
 * ```ts
 * import { ACLDenied, DEFAULT_DENY } from 'fastify-jwt-security'
 *
 * const result = await request.hasPermission('delete', article)
 * // an explicit Deny is policy; a default denial may be a grant someone forgot
 * if (result instanceof ACLDenied && result.ace !== DEFAULT_DENY) request.log.info({ ace: result.ace }, 'denied by ACE')
 * ```
 */
export class ACLDenied extends Denied implements AclDecision {
  readonly ace: ACE | typeof DEFAULT_DENY
  readonly acl: ACL | typeof NO_ACL_FOUND
  readonly permission: string
  readonly principals: readonly string[]
  readonly context: unknown

  constructor (ace: ACE | typeof DEFAULT_DENY, acl: ACL | typeof NO_ACL_FOUND, permission: string, principals: readonly string[], context: unknown) {
    // Pyramid's args: the class name, then the values in the order of the template.
    super(ACL_TEMPLATE, new.target.name, permission, ace, acl, context, principals)
    this.ace = ace
    this.acl = acl
    this.permission = permission
    this.principals = principals
    this.context = context
  }

  protected override formatArgs (): readonly unknown[] {
    return aclFormatArgs(this.args)
  }
}

/**
 * Pyramid's ACLHelper: decides permissions from the ACLs of a context and its parents.
 * @example
 * ```ts
 * import { ACLHelper, Everyone } from 'fastify-jwt-security'
 *
 * const helper = new ACLHelper()
 * const result = helper.permits(article, request.identity?.principals ?? [Everyone], 'edit')
 * if (!result.allowed) request.log.info(result.msg)
 * ```
 */
export class ACLHelper {
  /**
   * Walks the lineage (`context`, its `__parent__`, …); in each ACL the first ACE whose principal is
   * one of `principals` and whose permissions include `permission` decides. Otherwise: a default
   * {@link ACLDenied} carrying {@link DEFAULT_DENY} and the last ACL seen (or {@link NO_ACL_FOUND}).
   */
  permits (context: unknown, principals: readonly string[], permission: string): ACLAllowed | ACLDenied {
    let acl: ACL | typeof NO_ACL_FOUND = NO_ACL_FOUND
    for (const location of lineage(context)) {
      const found = aclOf(location)
      if (found === undefined) continue
      acl = found
      for (const ace of found) {
        const [action, principal, permissions] = checkAce(ace)
        if (principals.includes(principal) && hasPermission(permissions, permission)) {
          return action === Allow
            ? new ACLAllowed(ace, found, permission, principals, location)
            : new ACLDenied(ace, found, permission, principals, location)
        }
      }
    }
    return new ACLDenied(DEFAULT_DENY, acl, permission, principals, context)
  }

  /**
   * The principals explicitly granted `permission` on `context`, walking from the root down to it:
   * a later Deny removes a principal allowed above, and a Deny of `Everyone` clears every principal
   * allowed above it and the rest of its own ACL.
   */
  principalsAllowedByPermission (context: unknown, permission: string): Set<string> {
    let allowed = new Set<string>()
    for (const location of [...lineage(context)].reverse()) {
      const acl = aclOf(location)
      if (acl === undefined) continue
      const allowedHere = new Set<string>()
      const deniedHere = new Set<string>()
      for (const ace of acl) {
        const [action, principal, permissions] = checkAce(ace)
        if (!hasPermission(permissions, permission)) continue
        if (action === Allow) {
          if (!deniedHere.has(principal)) allowedHere.add(principal)
          continue
        }
        deniedHere.add(principal)
        if (principal === Everyone) {
          allowed = new Set()
          break
        }
        allowed.delete(principal)
      }
      for (const principal of allowedHere) allowed.add(principal)
    }
    return allowed
  }
}

function * lineage (context: unknown): Generator<object> {
  let location = context
  let steps = 0
  while (location !== null && location !== undefined) {
    if (typeof location !== 'object' && typeof location !== 'function') return
    if (++steps > MAX_LINEAGE) throw new TypeError(`resource lineage deeper than ${MAX_LINEAGE}: is there a __parent__ cycle?`)
    yield location
    location = (location as Resource).__parent__
  }
}

// Pyramid skips objects without __acl__; null is skipped too rather than failing as Python would.
function aclOf (location: object): ACL | undefined {
  let acl: unknown = (location as Resource).__acl__
  if (acl === undefined || acl === null) return undefined
  if (typeof acl === 'function') acl = (acl as () => unknown).call(location)
  if (!Array.isArray(acl)) throw new TypeError('__acl__ must be an array of ACEs, or a function returning one')
  return acl as ACL
}

function checkAce (ace: unknown): ACE {
  if (Array.isArray(ace) && ace.length === 3 && (ace[0] === Allow || ace[0] === Deny) && typeof ace[1] === 'string') {
    return ace as unknown as ACE
  }
  throw new TypeError('an ACE must be [Allow | Deny, principal, permissions]')
}

// A string names one permission: 'view' does not match 'view_stuff' (Pyramid's is_nonstr_iter).
function hasPermission (permissions: AcePermissions, permission: string): boolean {
  if (typeof permissions === 'string') return permissions === permission
  if (permissions instanceof AllPermissionsList) return true
  if (Array.isArray(permissions)) return permissions.includes(permission)
  if (permissions instanceof Set) return permissions.has(permission)
  throw new TypeError('ACE permissions must be a string, an array or a Set of strings, or ALL_PERMISSIONS')
}

// util.format renders these with inspect, as Python's %r renders with repr.
class Repr {
  readonly #value: unknown
  constructor (value: unknown) { this.#value = value }
  toString (): string {
    return inspect(this.#value, { depth: 4, breakLength: Infinity })
  }
}

class ContextRepr {
  readonly #context: unknown
  constructor (context: unknown) { this.#context = context }
  toString (): string {
    const context = this.#context
    if (context === null || typeof context !== 'object') return inspect(context)
    const kind = (context as { constructor?: { name?: string } }).constructor?.name ?? 'Object'
    const name = (context as Resource).__name__
    return typeof name === 'string' ? `<${kind} ${inspect(name)}>` : `<${kind}>`
  }
}
