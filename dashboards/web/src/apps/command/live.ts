// The command center's one live channel, shared by every screen.
import { LiveChannel } from '@/live/channel'

export const live = new LiveChannel(['incident', 'work_order', 'device', 'mode'])
