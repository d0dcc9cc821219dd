// Contender "bare-cookie": the "bare" route, sent the requests of "plugin-cookie" (Cookie:
// session=<token>, one of 1,000 tokens) and ignoring them.
import { serveBareCarrying } from './bare-carrying.js'

await serveBareCarrying()
