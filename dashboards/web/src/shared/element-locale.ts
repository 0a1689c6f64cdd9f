// Element Plus's own texts (pagination, date picker, dialogs) in the current language: bind to el-config-provider.
import en from 'element-plus/es/locale/lang/en'
import zhCn from 'element-plus/es/locale/lang/zh-cn'
import { computed } from 'vue'
import { i18n } from '@/i18n'

export const elementLocale = computed(() => (i18n.global.locale.value === 'en' ? en : zhCn))
