import { ThreadPool } from '../../../engine/executors/thread-pool'
import { poolSuite } from './pool-suite'

poolSuite('thread', (size) => new ThreadPool({ size }), /^thread \d+$/)
