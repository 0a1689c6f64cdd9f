// Lint for the web apps: Vue and TypeScript rules, accessibility (eslint-plugin-vuejs-accessibility), and no
// untranslated text in templates (vue/no-bare-strings-in-template): every word a user reads comes from i18n.
import vueTsEslintConfig from '@vue/eslint-config-typescript'
import pluginVue from 'eslint-plugin-vue'
import pluginVueA11y from 'eslint-plugin-vuejs-accessibility'

export default [
  { ignores: ['dist/**', 'node_modules/**', 'src/api/schema.d.ts', 'dev-dist/**'] },
  ...pluginVue.configs['flat/recommended'],
  ...vueTsEslintConfig(),
  ...pluginVueA11y.configs['flat/recommended'],
  {
    files: ['**/*.vue'],
    rules: {
      'vue/no-bare-strings-in-template': [
        'error',
        {
          allowlist: ['·', '—', '-', '/', ':', '%', '×', '(', ')', '|', '…', '*', '+', '#', '℃', 'cm', 'px'],
          attributes: { '/.+/': ['title', 'aria-label', 'aria-placeholder', 'aria-roledescription', 'aria-valuetext', 'placeholder', 'alt'] },
          directives: ['v-text'],
        },
      ],
      'vue/multi-word-component-names': 'off',
      'vue/max-attributes-per-line': 'off',
      'vue/singleline-html-element-content-newline': 'off',
      'vue/html-self-closing': 'off',
      'vuejs-accessibility/label-has-for': ['error', { required: { some: ['nesting', 'id'] } }],
      // Element Plus and Vant render their own accessible inputs; the rule cannot see inside components.
      'vuejs-accessibility/form-control-has-label': 'off',
    },
  },
  {
    files: ['**/*.ts', '**/*.vue'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
]
