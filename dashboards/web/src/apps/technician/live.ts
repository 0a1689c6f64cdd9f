// The technician app's one live channel: devices (online state, health, applied configuration) and camera faults.
import { LiveChannel } from '@/live/channel'

export const live = new LiveChannel(['device', 'incident'])
