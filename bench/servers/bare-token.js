// Contender "bare-token": the "bare" route, sent the requests of "plugin-hs256" (Authorization:
// Bearer with one of 1,000 tokens) and ignoring them.
import { serveBareCarrying } from './bare-carrying.js'

await serveBareCarrying()
