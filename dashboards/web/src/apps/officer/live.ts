// The officer app's one live channel: the work orders and incidents of the officer's grids and tasks.
import { LiveChannel } from '@/live/channel'

export const live = new LiveChannel(['work_order', 'incident', 'mode'])
